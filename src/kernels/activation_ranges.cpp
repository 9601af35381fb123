#include "kernels/activation_ranges.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <utility>
#include <vector>

namespace onnxquant::kernels {
namespace {

constexpr double kUint8Max = 255.0;

// The value at fractional rank `rank` of sorted values, interpolating between neighbours.
double value_at_rank(std::vector<float>& values, double rank) {
  const auto lower = static_cast<size_t>(std::floor(rank));
  const size_t upper = std::min(lower + 1, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lower), values.end());
  const double low = values[lower];
  if (upper == lower) return low;
  // After nth_element, the next value in order is the smallest of the upper part.
  const double high = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(upper), values.end());
  return low + (high - low) * (rank - static_cast<double>(lower));
}

// Squared error of quantizing `value` to uint8 with the given scale and zero point, in doubles.
double uint8_error(double value, double scale, double zero_point) {
  const double code = std::clamp(std::nearbyint(value / scale) + zero_point, 0.0, kUint8Max);
  const double restored = (code - zero_point) * scale;
  return (value - restored) * (value - restored);
}

}  // namespace

ValueRange minmax_range(std::span<const float> values) {
  if (values.empty()) return {};
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  return {*low, *high};
}

ValueRange percentile_range(std::span<const float> values, double percentile) {
  if (values.empty()) return {};
  std::vector<float> copy(values.begin(), values.end());
  const double last = static_cast<double>(copy.size() - 1);
  const double high = value_at_rank(copy, percentile / 100.0 * last);
  const double low = value_at_rank(copy, (100.0 - percentile) / 100.0 * last);
  return {low, high};
}

ValueRange mse_range(std::span<const float> values, int bins) {
  const ValueRange full = minmax_range(values);
  const double width = (full.max - full.min) / bins;
  if (!(width > 0.0)) return full;
  std::vector<double> counts(static_cast<size_t>(bins), 0.0);
  for (float x : values) {
    const auto bin = static_cast<int>((x - full.min) / width);
    counts[static_cast<size_t>(std::clamp(bin, 0, bins - 1))] += 1.0;
  }
  // The non-empty bins as (centre, count).
  std::vector<std::pair<double, double>> filled;
  for (int b = 0; b < bins; ++b) {
    if (counts[b] > 0.0) filled.emplace_back(full.min + (b + 0.5) * width, counts[b]);
  }
  ValueRange best = full;
  double best_error = INFINITY;
  for (int low_step = kRangeSteps; low_step >= 1; --low_step) {
    for (int high_step = kRangeSteps; high_step >= 1; --high_step) {
      const ValueRange candidate{full.min * low_step / kRangeSteps, full.max * high_step / kRangeSteps};
      const Uint8Params params = uint8_params(candidate);
      double error = 0.0;
      for (size_t i = 0; i < filled.size() && error < best_error; ++i) {
        error += filled[i].second * uint8_error(filled[i].first, params.scale, params.zero_point);
      }
      if (error < best_error) {
        best_error = error;
        best = candidate;
      }
    }
  }
  return best;
}

Uint8Params uint8_params(ValueRange range) {
  const double low = std::min(range.min, 0.0);
  const double high = std::max(range.max, 0.0);
  const double span = high - low;
  if (!(span > 0.0)) return {1.0f, 0};
  const float scale = std::max(static_cast<float>(span / kUint8Max), FLT_MIN);
  const double zero_point = std::clamp(std::nearbyint(-low / scale), 0.0, kUint8Max);
  return {scale, static_cast<uint8_t>(zero_point)};
}

}  // namespace onnxquant::kernels
