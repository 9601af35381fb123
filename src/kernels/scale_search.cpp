#include "kernels/scale_search.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/scale_search_steps.hpp"

namespace onnxquant::kernels {

namespace search_steps {

float candidate_scale(float base, int step) { return static_cast<float>(base * (1.0 - kStepFactor * step)); }

int32_t recenter_zero_point(float block_min, float scale, CodeRange range) {
  return static_cast<int32_t>(std::clamp(std::nearbyint(range.min - block_min / scale), static_cast<float>(range.min),
                                         static_cast<float>(range.max)));
}

bool sign_flip_base(const ScaleChoice& initial, CodeRange range, bool fixed_zero_point, bool allow_sign_flip,
                    float& base) {
  const int32_t below = initial.zero_point - range.min;
  const int32_t above = range.max - initial.zero_point;
  if (!fixed_zero_point || !allow_sign_flip || below == above || above <= 0) return false;
  base = -initial.scale * static_cast<float>(below) / static_cast<float>(above);
  return true;
}

bool fit_fixed(double numerator, double denominator, int32_t zero_point, ScaleChoice& fitted) {
  if (denominator == 0.0 || numerator == 0.0) return false;
  fitted = {static_cast<float>(numerator / denominator), zero_point};
  return true;
}

bool fit_affine(const AffineSums& sums, CodeRange range, ScaleChoice& fitted) {
  const double determinant = sums.n * sums.sum_qq - sums.sum_q * sums.sum_q;
  if (sums.n == 0.0 || determinant == 0.0) return false;
  const double a = (sums.n * sums.sum_qx - sums.sum_q * sums.sum_x) / determinant;
  const double b = (sums.sum_x - a * sums.sum_q) / sums.n;
  if (!(a > 0.0) || !std::isfinite(a)) return false;
  const double zero_point = std::clamp(std::nearbyint(-b / a), static_cast<double>(range.min),
                                       static_cast<double>(range.max));
  fitted = {static_cast<float>(a), static_cast<int32_t>(zero_point)};
  return true;
}

}  // namespace search_steps

namespace {

using search_steps::kRefitRounds;

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
  return search_steps::fit_fixed(numerator, denominator, choice.zero_point, fitted);
}

// Least-squares fit of x ~ a * code + b, then zero_point = round(-b / a).
bool refit_affine(std::span<const float> values, const ScaleChoice& choice, CodeRange range, ScaleChoice& fitted) {
  search_steps::AffineSums sums;
  for (float x : values) {
    if (!std::isfinite(x)) continue;
    const double q = quantize_to_code(x, choice, range);
    sums.n += 1.0;
    sums.sum_q += q;
    sums.sum_x += x;
    sums.sum_qq += q * q;
    sums.sum_qx += q * x;
  }
  return search_steps::fit_affine(sums, range, fitted);
}

// Quantizes with `candidate`, then refits by least squares; returns false when no fit exists.
bool try_candidate(std::span<const float> values, CodeRange range, ScaleChoice candidate, bool fixed_zero_point,
                   StoreScale store, ScaleChoice& fitted) {
  if (!fixed_zero_point && candidate.scale > 0.0f) {
    float min = 0.0f;
    for (float x : values) {
      if (std::isfinite(x)) min = std::min(min, x);
    }
    candidate.zero_point = search_steps::recenter_zero_point(min, candidate.scale, range);
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

}  // namespace

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

namespace reference {

ScaleChoice search_scale(std::span<const float> values, CodeRange range, ScaleChoice initial, bool fixed_zero_point,
                         StoreScale store, bool allow_sign_flip) {
  ScaleChoice best = initial;
  double best_error = squared_error(values, initial, range);
  if (best_error == 0.0) return best;

  std::vector<float> bases = {initial.scale};
  float flipped = 0.0f;
  if (search_steps::sign_flip_base(initial, range, fixed_zero_point, allow_sign_flip, flipped)) {
    bases.push_back(flipped);
  }

  for (float base : bases) {
    for (int step = search_steps::kFirstStep; step <= search_steps::kLastStep; ++step) {
      ScaleChoice fitted;
      if (try_candidate(values, range, {search_steps::candidate_scale(base, step), initial.zero_point},
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

}  // namespace reference
}  // namespace onnxquant::kernels
