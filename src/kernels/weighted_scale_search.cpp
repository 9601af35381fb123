#include "kernels/weighted_scale_search.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace onnxquant::kernels {
namespace {

// The candidate factors of search_scale: 1.05 down to 0.75 in steps of 0.01.
constexpr int kFirstStep = -5;
constexpr int kLastStep = 25;
constexpr double kStepFactor = 0.01;
constexpr int kRefitRounds = 2;

// Weighted least squares of x ~ scale * (code - zero_point), the zero point fixed.
bool weighted_refit_scale(std::span<const float> values, std::span<const float> weights, const ScaleChoice& choice,
                          CodeRange range, ScaleChoice& fitted) {
  double numerator = 0.0;
  double denominator = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    const double q = quantize_to_code(values[i], choice, range) - choice.zero_point;
    numerator += weights[i] * values[i] * q;
    denominator += weights[i] * q * q;
  }
  if (denominator == 0.0 || numerator == 0.0) return false;
  fitted = {static_cast<float>(numerator / denominator), choice.zero_point};
  return true;
}

// Weighted least squares of x ~ a * code + b, then zero_point = round(-b / a).
bool weighted_refit_affine(std::span<const float> values, std::span<const float> weights, const ScaleChoice& choice,
                           CodeRange range, ScaleChoice& fitted) {
  double w_sum = 0.0, sum_q = 0.0, sum_x = 0.0, sum_qq = 0.0, sum_qx = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) continue;
    const double w = weights[i];
    const double q = quantize_to_code(values[i], choice, range);
    w_sum += w;
    sum_q += w * q;
    sum_x += w * x;
    sum_qq += w * q * q;
    sum_qx += w * q * x;
  }
  const double determinant = w_sum * sum_qq - sum_q * sum_q;
  if (w_sum == 0.0 || determinant == 0.0) return false;
  const double a = (w_sum * sum_qx - sum_q * sum_x) / determinant;
  const double b = (sum_x - a * sum_q) / w_sum;
  if (!(a > 0.0) || !std::isfinite(a)) return false;
  const double zero_point =
      std::clamp(std::nearbyint(-b / a), static_cast<double>(range.min), static_cast<double>(range.max));
  fitted = {static_cast<float>(a), static_cast<int32_t>(zero_point)};
  return true;
}

bool weighted_candidate(std::span<const float> values, std::span<const float> weights, CodeRange range,
                        ScaleChoice candidate, bool fixed_zero_point, StoreScale store, ScaleChoice& fitted) {
  if (!fixed_zero_point && candidate.scale > 0.0f) {
    float min = 0.0f;
    for (float x : values) {
      if (std::isfinite(x)) min = std::min(min, x);
    }
    candidate.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(range.min - min / candidate.scale),
                                                           static_cast<float>(range.min), static_cast<float>(range.max)));
  }
  bool refitted = false;
  for (int round = 0; round < kRefitRounds; ++round) {
    ScaleChoice next;
    const bool ok = fixed_zero_point ? weighted_refit_scale(values, weights, candidate, range, next)
                                     : weighted_refit_affine(values, weights, candidate, range, next);
    if (!ok) break;
    next.scale = store(next.scale);
    candidate = next;
    refitted = true;
  }
  fitted = candidate;
  return refitted;
}

}  // namespace

double weighted_squared_error(std::span<const float> values, std::span<const float> weights, const ScaleChoice& choice,
                              CodeRange range) {
  double error = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) continue;
    const double restored =
        static_cast<double>(quantize_to_code(values[i], choice, range) - choice.zero_point) * choice.scale;
    error += weights[i] * (x - restored) * (x - restored);
  }
  return error;
}

ScaleChoice search_scale_weighted(std::span<const float> values, std::span<const float> weights, CodeRange range,
                                  ScaleChoice initial, bool fixed_zero_point, StoreScale store, bool allow_sign_flip) {
  ScaleChoice best = initial;
  double best_error = weighted_squared_error(values, weights, initial, range);
  if (best_error == 0.0) return best;
  std::vector<float> bases = {initial.scale};
  const int32_t below = initial.zero_point - range.min;
  const int32_t above = range.max - initial.zero_point;
  if (fixed_zero_point && allow_sign_flip && below != above && above > 0) {
    bases.push_back(-initial.scale * static_cast<float>(below) / static_cast<float>(above));
  }
  for (float base : bases) {
    for (int step = kFirstStep; step <= kLastStep; ++step) {
      ScaleChoice fitted;
      const ScaleChoice candidate{static_cast<float>(base * (1.0 - kStepFactor * step)), initial.zero_point};
      if (!weighted_candidate(values, weights, range, candidate, fixed_zero_point, store, fitted)) continue;
      const double error = weighted_squared_error(values, weights, fitted, range);
      if (error < best_error) {
        best_error = error;
        best = fitted;
      }
    }
  }
  return best;
}

}  // namespace onnxquant::kernels
