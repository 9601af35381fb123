// Float32 to float16 or bfloat16 conversion of a tensor in runs, with the error of the conversion
// measured on the way. A tensor of any size needs buffers of one run only.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/error_metrics.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels {

enum class NarrowType { kFloat16, kBfloat16 };

class NarrowingConversion {
 public:
  NarrowingConversion(NarrowType type, int threads) : type_(type), threads_(threads) {}

  // Converts the next run of the tensor with the saturating conversion of float16.hpp. Every run
  // but the last must hold a multiple of kErrorChunk values. The error sums then cover the same
  // chunks as measure_error over the whole tensor, so the metrics equal measure_error's whatever
  // the run length and thread count.
  void convert(std::span<const float> values, std::span<uint16_t> output);

  // Metrics over the finite values converted so far; NaN and infinities pass through unchanged and
  // are left out.
  ErrorMetrics metrics() const { return metrics_from_sums(sums_, finite_count_); }
  // The largest |x - y| / |x| over the finite nonzero values x and their conversions y.
  double max_relative_error() const { return max_relative_error_; }
  uint64_t saturated_values() const { return saturated_values_; }

 private:
  struct ChunkResult {
    simd::ErrorSums sums;
    uint64_t finite_count = 0;
    double max_relative_error = 0.0;
    uint64_t saturated_values = 0;
  };

  ChunkResult convert_chunk(const float* values, int64_t count, uint16_t* output) const;

  NarrowType type_;
  int threads_;
  simd::ErrorSums sums_;
  uint64_t finite_count_ = 0;
  double max_relative_error_ = 0.0;
  uint64_t saturated_values_ = 0;
};

}  // namespace onnxquant::kernels
