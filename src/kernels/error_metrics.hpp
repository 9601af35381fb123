// Reconstruction error of a quantized tensor against its float original.
#pragma once

#include <cstdint>
#include <span>

namespace onnxquant::kernels {

struct ErrorMetrics {
  double mse = 0.0;
  double max_abs_error = 0.0;
  // 10 * log10(sum(x^2) / sum((x - x')^2)); +infinity when the reconstruction is exact.
  double sqnr_db = 0.0;
  // 1 when both tensors are all zeros, 0 when exactly one of them is.
  double cosine_similarity = 0.0;
  // sum(x^2) of the original values.
  double signal_power = 0.0;
};

// 10 * log10(signal_power / noise_power): +infinity when the noise is 0, -infinity when only the
// signal is.
double sqnr_db(double signal_power, double noise_power);

namespace simd {
struct ErrorSums;
}

// The metrics of `count` compared values from their sums.
ErrorMetrics metrics_from_sums(const simd::ErrorSums& sums, uint64_t count);

// Elements per chunk of measure_error: the chunk boundaries fix the order of its sums.
inline constexpr int64_t kErrorChunk = 16384;

// The sums run over fixed chunks of kErrorChunk elements with eight accumulators each, and the
// chunk sums are added in chunk order. The metrics are therefore the same for any thread count and
// on any CPU. They differ from the reference's sequential sums by rounding only.
ErrorMetrics measure_error(std::span<const float> original, std::span<const float> reconstructed, int threads = 1);

// dot / (sqrt(a_squares) * sqrt(b_squares)) for sums over two vectors a and b: 1 when both are all
// zeros, 0 when exactly one of them is.
double cosine_from_sums(double dot, double a_squares, double b_squares);

namespace reference {

// Sums every term in element order.
ErrorMetrics measure_error(std::span<const float> original, std::span<const float> reconstructed);

}  // namespace reference
}  // namespace onnxquant::kernels
