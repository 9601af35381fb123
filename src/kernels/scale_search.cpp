#include "kernels/scale_search.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace onnxquant::kernels {
namespace {

// Candidate factors on the min/max scale: 1.05 down to 0.75 in steps of 0.01. Factors below 1 clip
// the extremes of a block in exchange for finer steps for the other values.
constexpr int kFirstStep = -5;
constexpr int kLastStep = 25;
constexpr double kStepFactor = 0.01;
// Quantize-and-refit rounds per candidate; each round can only lower the error of the fit.
constexpr int kRefitRounds = 2;

// Least-squares fit of x ~ scale * (code - zero_point) with the zero point fixed.
bool refit_scale(std::span<const float> values, const ScaleChoice& choice, CodeRange range, ScaleChoice& fitted) {
  double numerator = 0.0;
  double denominator = 0.0;
  for (float x : values) {
    if (!std::isfinite(x)) continue;
    const double q = quantize_to_code(x, choice, range) - choice.zero_point;
    numerator += x * q;
    denominator += q * q;
  }
  if (denominator == 0.0 || numerator == 0.0) return false;
  fitted = {static_cast<float>(numerator / denominator), choice.zero_point};
  return true;
}

// Least-squares fit of x ~ a * code + b, then zero_point = round(-b / a).
bool refit_affine(std::span<const float> values, const ScaleChoice& choice, CodeRange range, ScaleChoice& fitted) {
  double n = 0.0, sum_q = 0.0, sum_x = 0.0, sum_qq = 0.0, sum_qx = 0.0;
  for (float x : values) {
    if (!std::isfinite(x)) continue;
    const double q = quantize_to_code(x, choice, range);
    n += 1.0;
    sum_q += q;
    sum_x += x;
    sum_qq += q * q;
    sum_qx += q * x;
  }
  const double determinant = n * sum_qq - sum_q * sum_q;
  if (n == 0.0 || determinant == 0.0) return false;
  const double a = (n * sum_qx - sum_q * sum_x) / determinant;
  const double b = (sum_x - a * sum_q) / n;
  if (!(a > 0.0) || !std::isfinite(a)) return false;
  const double zero_point = std::clamp(std::nearbyint(-b / a), static_cast<double>(range.min),
                                       static_cast<double>(range.max));
  fitted = {static_cast<float>(a), static_cast<int32_t>(zero_point)};
  return true;
}

}  // namespace

// Quantizes with `candidate`, then refits by least squares; returns false when no fit exists.
static bool try_candidate(std::span<const float> values, CodeRange range, ScaleChoice candidate, bool fixed_zero_point,
                   StoreScale store, ScaleChoice& fitted) {
  if (!fixed_zero_point && candidate.scale > 0.0f) {
    // Re-center the zero point for the new scale, as min/max would.
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
    const bool ok = fixed_zero_point ? refit_scale(values, candidate, range, next)
                                     : refit_affine(values, candidate, range, next);
    if (!ok) break;
    next.scale = store(next.scale);
    candidate = next;
    refitted = true;
  }
  fitted = candidate;
  return refitted;
}

int32_t quantize_to_code(float value, const ScaleChoice& choice, CodeRange range) {
  if (std::isnan(value)) return choice.zero_point;
  const float shifted = std::nearbyint(value / choice.scale) + static_cast<float>(choice.zero_point);
  return static_cast<int32_t>(std::clamp(shifted, static_cast<float>(range.min), static_cast<float>(range.max)));
}

double squared_error(std::span<const float> values, const ScaleChoice& choice, CodeRange range) {
  double error = 0.0;
  for (float x : values) {
    if (!std::isfinite(x)) continue;
    const double restored = static_cast<double>(quantize_to_code(x, choice, range) - choice.zero_point) * choice.scale;
    error += (x - restored) * (x - restored);
  }
  return error;
}

ScaleChoice search_scale(std::span<const float> values, CodeRange range, ScaleChoice initial, bool fixed_zero_point,
                         StoreScale store, bool allow_sign_flip) {
  ScaleChoice best = initial;
  double best_error = squared_error(values, initial, range);
  if (best_error == 0.0) return best;

  // With a fixed zero point off the middle of the range ([0, 15] around 8), the opposite sign puts
  // the largest magnitude on the shorter side of the range instead, so both signs are tried.
  std::vector<float> bases = {initial.scale};
  const int32_t below = initial.zero_point - range.min;
  const int32_t above = range.max - initial.zero_point;
  if (fixed_zero_point && allow_sign_flip && below != above && above > 0) {
    bases.push_back(-initial.scale * static_cast<float>(below) / static_cast<float>(above));
  }

  for (float base : bases) {
    for (int step = kFirstStep; step <= kLastStep; ++step) {
      ScaleChoice fitted;
      if (try_candidate(values, range, {static_cast<float>(base * (1.0 - kStepFactor * step)), initial.zero_point},
                        fixed_zero_point, store, fitted)) {
        const double error = squared_error(values, fitted, range);
        if (error < best_error) {
          best_error = error;
          best = fitted;
        }
      }
    }
  }
  return best;
}
}  // namespace onnxquant::kernels
