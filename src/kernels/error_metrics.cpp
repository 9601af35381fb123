#include "kernels/error_metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace onnxquant::kernels {

ErrorMetrics measure_error(std::span<const float> original, std::span<const float> reconstructed) {
  assert(original.size() == reconstructed.size());
  double signal = 0.0;
  double noise = 0.0;
  double dot = 0.0;
  double reconstructed_norm = 0.0;
  double max_abs_error = 0.0;
  for (size_t i = 0; i < original.size(); ++i) {
    const double x = original[i];
    const double y = reconstructed[i];
    const double error = x - y;
    signal += x * x;
    noise += error * error;
    dot += x * y;
    reconstructed_norm += y * y;
    max_abs_error = std::max(max_abs_error, std::fabs(error));
  }

  ErrorMetrics metrics;
  metrics.max_abs_error = max_abs_error;
  metrics.mse = original.empty() ? 0.0 : noise / static_cast<double>(original.size());
  if (noise == 0.0) {
    metrics.sqnr_db = std::numeric_limits<double>::infinity();
  } else {
    metrics.sqnr_db = signal == 0.0 ? -std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
  }
  if (signal == 0.0 && reconstructed_norm == 0.0) {
    metrics.cosine_similarity = 1.0;
  } else if (signal == 0.0 || reconstructed_norm == 0.0) {
    metrics.cosine_similarity = 0.0;
  } else {
    metrics.cosine_similarity = dot / (std::sqrt(signal) * std::sqrt(reconstructed_norm));
  }
  return metrics;
}

}  // namespace onnxquant::kernels
