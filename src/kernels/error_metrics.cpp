#include "kernels/error_metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/parallel.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels {

double sqnr_db(double signal_power, double noise_power) {
  if (noise_power == 0.0) return std::numeric_limits<double>::infinity();
  return signal_power == 0.0 ? -std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal_power / noise_power);
}

ErrorMetrics metrics_from_sums(const simd::ErrorSums& sums, uint64_t count) {
  ErrorMetrics metrics;
  metrics.max_abs_error = sums.max_abs_error;
  metrics.mse = count == 0 ? 0.0 : sums.noise / static_cast<double>(count);
  metrics.sqnr_db = sqnr_db(sums.signal, sums.noise);
  metrics.cosine_similarity = cosine_from_sums(sums.dot, sums.signal, sums.reconstructed_norm);
  metrics.signal_power = sums.signal;
  return metrics;
}

ErrorMetrics measure_error(std::span<const float> original, std::span<const float> reconstructed, int threads) {
  assert(original.size() == reconstructed.size());
  const auto count = static_cast<int64_t>(original.size());
  const int64_t chunks = tasks_for(count, kErrorChunk);
  std::vector<simd::ErrorSums> partial(static_cast<size_t>(chunks));
  const simd::Primitives& primitives = simd::primitives();
  parallel_for(chunks, threads, [&](int64_t chunk) {
    const int64_t begin = chunk * kErrorChunk;
    const int64_t length = std::min(kErrorChunk, count - begin);
    partial[static_cast<size_t>(chunk)] =
        primitives.error_sums(original.data() + begin, reconstructed.data() + begin, length);
  });

  simd::ErrorSums total;
  for (const simd::ErrorSums& sums : partial) simd::accumulate(total, sums);
  return metrics_from_sums(total, original.size());
}

namespace reference {

ErrorMetrics measure_error(std::span<const float> original, std::span<const float> reconstructed) {
  assert(original.size() == reconstructed.size());
  simd::ErrorSums sums;
  for (size_t i = 0; i < original.size(); ++i) {
    const double x = original[i];
    const double y = reconstructed[i];
    const double error = x - y;
    sums.signal += x * x;
    sums.noise += error * error;
    sums.dot += x * y;
    sums.reconstructed_norm += y * y;
    sums.max_abs_error = std::max(sums.max_abs_error, std::fabs(error));
  }
  return metrics_from_sums(sums, original.size());
}

}  // namespace reference

double cosine_from_sums(double dot, double a_squares, double b_squares) {
  if (a_squares == 0.0 && b_squares == 0.0) return 1.0;
  if (a_squares == 0.0 || b_squares == 0.0) return 0.0;
  return dot / (std::sqrt(a_squares) * std::sqrt(b_squares));
}

}  // namespace onnxquant::kernels
