#include "passes/float_tensors.hpp"

#include <algorithm>
#include <cmath>

#include "io/tensor_data.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/float16.hpp"

namespace onnxquant::passes {

namespace {

// NaN and infinities pass through unchanged, so they are left out of the error metrics. Only a
// tensor that contains them pays for copies of the finite values.
kernels::ErrorMetrics measure_finite_error(const std::vector<float>& values, const std::vector<float>& restored,
                                           int threads) {
  const bool all_finite = std::all_of(values.begin(), values.end(), [](float x) { return std::isfinite(x); });
  if (all_finite) return kernels::measure_error(values, restored, threads);

  std::vector<float> finite_original;
  std::vector<float> finite_restored;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    finite_original.push_back(values[i]);
    finite_restored.push_back(restored[i]);
  }
  return kernels::measure_error(finite_original, finite_restored, threads);
}

}  // namespace

void convert_tensor_data(onnx::TensorProto& tensor, int32_t target, TensorReport& entry, const io::TensorStore& store,
                         int threads) {
  const std::vector<float> values = io::read_float_values(tensor, store);
  const bool is_half = target == onnx::TensorProto::FLOAT16;

  std::vector<uint16_t> converted(values.size());
  std::vector<float> restored(values.size());
  uint64_t saturated_values = 0;
  if (is_half) {
    saturated_values = kernels::convert_float_to_half_saturating(values, converted, threads);
    kernels::convert_half_to_float(converted, restored, threads);
  } else {
    saturated_values = kernels::convert_float_to_bfloat16_saturating(values, converted, threads);
    kernels::convert_bfloat16_to_float(converted, restored, threads);
  }
  double max_relative_error = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i]) && values[i] != 0.0f) {
      max_relative_error = std::max(max_relative_error, std::fabs(static_cast<double>(values[i]) - restored[i]) /
                                                            std::fabs(static_cast<double>(values[i])));
    }
  }

  const kernels::ErrorMetrics error = measure_finite_error(values, restored, threads);

  tensor.set_data_type(target);
  io::set_raw_data(tensor, {reinterpret_cast<const uint8_t*>(converted.data()), converted.size() * sizeof(uint16_t)});

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
