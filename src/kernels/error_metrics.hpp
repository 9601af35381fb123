// Reconstruction error of a quantized tensor against its float original.
#pragma once

#include <span>

namespace onnxquant::kernels {

struct ErrorMetrics {
  double mse = 0.0;
  double max_abs_error = 0.0;
  // 10 * log10(sum(x^2) / sum((x - x')^2)); +infinity when the reconstruction is exact.
  double sqnr_db = 0.0;
  // 1 when both tensors are all zeros, 0 when exactly one of them is.
  double cosine_similarity = 0.0;
};

ErrorMetrics measure_error(std::span<const float> original, std::span<const float> reconstructed);

}  // namespace onnxquant::kernels
