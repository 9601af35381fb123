#include "passes/float_tensors.hpp"

#include <cmath>

#include "io/tensor_data.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/float16.hpp"

namespace onnxquant::passes {

void convert_tensor_data(onnx::TensorProto& tensor, int32_t target, TensorReport& entry) {
  const std::vector<float> values = io::read_float_values(tensor);
  const bool is_half = target == onnx::TensorProto::FLOAT16;

  std::vector<uint16_t> converted(values.size());
  std::vector<float> restored(values.size());
  uint64_t saturated_values = 0;
  double max_relative_error = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    bool saturated = false;
    converted[i] = is_half ? kernels::float_to_half_saturating(values[i], saturated)
                           : kernels::float_to_bfloat16_saturating(values[i], saturated);
    restored[i] = is_half ? kernels::half_to_float(converted[i]) : kernels::bfloat16_to_float(converted[i]);
    saturated_values += saturated ? 1 : 0;
    if (std::isfinite(values[i]) && values[i] != 0.0f) {
      max_relative_error = std::max(max_relative_error, std::fabs(static_cast<double>(values[i]) - restored[i]) /
                                                            std::fabs(static_cast<double>(values[i])));
    }
  }

  // NaN and infinities pass through unchanged; they are left out of the error metrics.
  std::vector<float> finite_original;
  std::vector<float> finite_restored;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    finite_original.push_back(values[i]);
    finite_restored.push_back(restored[i]);
  }
  const kernels::ErrorMetrics error = kernels::measure_error(finite_original, finite_restored);

  const auto* bytes = reinterpret_cast<const char*>(converted.data());
  tensor.clear_float_data();
  tensor.set_data_type(target);
  tensor.set_raw_data(bytes, converted.size() * sizeof(uint16_t));

  entry.dtype_after = io::dtype_name(target);
  entry.bytes_after = converted.size() * sizeof(uint16_t);
  entry.scheme = "cast";
  entry.mse = error.mse;
  entry.max_abs_error = error.max_abs_error;
  entry.sqnr_db = error.sqnr_db;
  entry.cosine_similarity = error.cosine_similarity;
  entry.max_relative_error = max_relative_error;
  entry.saturated_values = saturated_values;
}

}  // namespace onnxquant::passes
