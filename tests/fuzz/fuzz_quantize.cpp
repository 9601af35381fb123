// libFuzzer target: load a model from bytes and quantize it. The first byte selects the options,
// so one corpus covers INT8 per-tensor, per-channel and asymmetric, and INT4 with several block sizes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"
#include "onnxquant/quantize.hpp"
#include "fuzz_common.hpp"

namespace {

onnxquant::QuantizeOptions options_from(uint8_t selector) {
  onnxquant::QuantizeOptions options;
  options.min_elements = 0;
  options.asymmetric = (selector & 1) != 0;
  if ((selector & 2) == 0) {
    options.precision = onnxquant::Precision::kInt8;
    options.per_channel = (selector & 4) != 0;
  } else {
    options.precision = onnxquant::Precision::kInt4;
    options.block_size = int64_t{16} << ((selector >> 2) & 3);  // 16, 32, 64 or 128
  }
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  onnxquant::fuzz::silence_logging();
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    onnxquant::Model model = onnxquant::load_model_from_bytes(bytes, onnxquant::fuzz::kModelPath);
    onnxquant::Report report;
    onnxquant::quantize_model(model.proto, options_from(data[0]), report);
  } catch (const onnxquant::Error&) {
    // A rejected model or an unsupported option combination is an expected outcome.
  }
  return 0;
}
