// Ranges of calibration activations for static INT8 quantization: min/max, a percentile, or the
// range whose uint8 quantization has the least squared error over a histogram of the values.
// Every statistic is computed in double precision; callers pass finite values only.
#pragma once

#include <cstdint>
#include <span>

namespace onnxquant::kernels {

struct ValueRange {
  double min = 0.0;
  double max = 0.0;
};

inline constexpr double kDefaultPercentile = 99.99;
inline constexpr int kRangeHistogramBins = 2048;
inline constexpr int kRangeSteps = 128;

// The smallest and largest value.
ValueRange minmax_range(std::span<const float> values);

// [the (100 - percentile)-th percentile, the percentile-th percentile] of the values, each the
// value at that rank with linear interpolation between neighbours (rank p / 100 * (n - 1)).
// `percentile` is in (50, 100]; 100 gives min/max.
ValueRange percentile_range(std::span<const float> values, double percentile);

// The range [min * a, max * b] (a and b from 1 down to 1/kRangeSteps in steps of 1/kRangeSteps)
// whose uint8 asymmetric quantization has the least squared error summed over a histogram of `bins`
// equal bins on [min, max], each bin counted at its centre. A clipped value contributes its
// squared distance to the range's edge. Ties keep the wider range.
ValueRange mse_range(std::span<const float> values, int bins = kRangeHistogramBins);

struct Uint8Params {
  float scale;
  uint8_t zero_point;
};

// Asymmetric uint8 parameters for a range, widened first to include 0 so that 0 is exact:
// scale = (max - min) / 255, zero_point = round(-min / scale). An empty range gets scale 1.
Uint8Params uint8_params(ValueRange range);

}  // namespace onnxquant::kernels
