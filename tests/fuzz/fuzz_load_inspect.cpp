// libFuzzer target: load a model from bytes (external data not read) and describe it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "onnxquant/errors.hpp"
#include "onnxquant/inspect.hpp"
#include "onnxquant/model.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnxquant::fuzz::silence_logging();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  onnxquant::LoadOptions options;
  options.external_data = onnxquant::ExternalDataLoading::kMap;
  try {
    onnxquant::Model model = onnxquant::load_model_from_bytes(bytes, onnxquant::fuzz::kModelPath, options);
    onnxquant::inspect_text(model);
    onnxquant::inspect_json(model);
  } catch (const onnxquant::Error&) {
    // A rejected model is the expected outcome for most inputs.
  }
  return 0;
}
