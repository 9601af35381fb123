// libFuzzer target: parse the bytes of an input file (.npy or TensorProto) as compare --inputs does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "io/tensor_file.hpp"
#include "onnxquant/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnxquant::fuzz::silence_logging();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    onnxquant::io::parse_tensor_file(bytes, "fuzz-input");
  } catch (const onnxquant::Error&) {
    // A rejected file is the expected outcome for most inputs.
  }
  return 0;
}
