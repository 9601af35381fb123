#include "passes/float_tensors.hpp"

#include <string>
#include <vector>

#include "io/external_data.hpp"
#include "io/tensor_data.hpp"
#include "kernels/narrowing_conversion.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant::passes {

namespace {

// Values per run: 4 MiB of float32 in and 2 MiB out, a multiple of kernels::kErrorChunk.
constexpr uint64_t kRunValues = uint64_t{1} << 20;
static_assert(kRunValues % kernels::kErrorChunk == 0);

}  // namespace

void convert_tensor_data(onnx::TensorProto& tensor, int32_t target, TensorReport& entry, const io::TensorStore& store,
                         io::TensorStore* output, int threads) {
  const bool is_half = target == onnx::TensorProto::FLOAT16;
  kernels::NarrowingConversion conversion(is_half ? kernels::NarrowType::kFloat16 : kernels::NarrowType::kBfloat16,
                                          threads);
  const uint64_t output_bytes = io::element_count(tensor) * sizeof(uint16_t);
  // Large tensors that the input stored externally go to the output file run by run. The others
  // are built in memory, as raw_data.
  const bool stream = output != nullptr && output->has_output() && io::is_external(tensor) &&
                      output_bytes >= kExternalDataThresholdBytes;
  const uint64_t offset = stream ? output->begin_output_tensor() : 0;
  std::string inline_data;
  std::vector<uint16_t> converted;
  io::for_each_float_run(tensor, store, kRunValues, [&](std::span<const float> values) {
    converted.resize(values.size());
    conversion.convert(values, converted);
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(converted.data()),
                                         converted.size() * sizeof(uint16_t));
    if (stream) {
      output->write_output(bytes);
    } else {
      inline_data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
  });

  tensor.set_data_type(target);
  if (stream) {
    output->end_output_tensor(tensor, offset);
  } else {
    io::set_raw_data(tensor, {reinterpret_cast<const uint8_t*>(inline_data.data()), inline_data.size()});
  }

  const kernels::ErrorMetrics error = conversion.metrics();
  entry.dtype_after = io::dtype_name(target);
  entry.bytes_after = output_bytes;
  entry.scheme = "cast";
  entry.mse = error.mse;
  entry.max_abs_error = error.max_abs_error;
  entry.sqnr_db = error.sqnr_db;
  entry.cosine_similarity = error.cosine_similarity;
  entry.max_relative_error = conversion.max_relative_error();
  entry.saturated_values = conversion.saturated_values();
}

}  // namespace onnxquant::passes
