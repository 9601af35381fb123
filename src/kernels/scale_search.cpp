#include "kernels/scale_search.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/scale_search_steps.hpp"

namespace onnxquant::kernels {

namespace search_steps {

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

// The ranking pass for one candidate: float sums over chunks of kRankChunk values, added in double.
search_steps::RankSums rank_sums(std::span<const float> values, const search_steps::RankCandidate& candidate) {
  search_steps::RankSums sums;
  for (size_t start = 0; start < values.size(); start += search_steps::kRankChunk) {
    const size_t end = std::min(values.size(), start + static_cast<size_t>(search_steps::kRankChunk));
    float sum_q = 0.0f;
    float sum_qq = 0.0f;
    float sum_qx = 0.0f;
    for (size_t i = start; i < end; ++i) {
      const float x = values[i];
      if (!std::isfinite(x)) continue;
      const float q = std::clamp(std::nearbyint(x * candidate.inverse), candidate.low, candidate.high);
      sum_q += q;
      sum_qq += q * q;
      sum_qx += q * x;
    }
    sums.sum_q += sum_q;
    sums.sum_qq += sum_qq;
    sums.sum_qx += sum_qx;
  }
  return sums;
}

search_steps::FiniteSums finite_sums(std::span<const float> values) {
  search_steps::FiniteSums sums;
  for (size_t start = 0; start < values.size(); start += search_steps::kRankChunk) {
    const size_t end = std::min(values.size(), start + static_cast<size_t>(search_steps::kRankChunk));
    float n = 0.0f;
    float sum_x = 0.0f;
    for (size_t i = start; i < end; ++i) {
      if (!std::isfinite(values[i])) continue;
      n += 1.0f;
      sum_x += values[i];
    }
    sums.n += n;
    sums.sum_x += sum_x;
  }
  return sums;
}

float finite_min(std::span<const float> values) {
  float min = 0.0f;
  for (float x : values) {
    if (std::isfinite(x)) min = std::min(min, x);
  }
  return min;
}

// Quantizes with `candidate`, then refits by least squares; returns false when no fit exists.
bool try_candidate(std::span<const float> values, CodeRange range, ScaleChoice candidate, bool fixed_zero_point,
                   StoreScale store, ScaleChoice& fitted) {
  if (!fixed_zero_point && candidate.scale > 0.0f) {
    candidate.zero_point = search_steps::recenter_zero_point(finite_min(values), candidate.scale, range);
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
  const double initial_error = squared_error(values, initial, range);
  if (initial_error == 0.0) return initial;

  std::vector<float> bases = {initial.scale};
  float flipped = 0.0f;
  if (search_steps::sign_flip_base(initial, range, fixed_zero_point, allow_sign_flip, flipped)) {
    bases.push_back(flipped);
  }

  // Rank the candidates by the closed-form error of the least-squares fit to their codes: every
  // other step of each base, then the two steps next to the best one.
  const float block_min = fixed_zero_point ? 0.0f : finite_min(values);
  const search_steps::FiniteSums block = finite_sums(values);
  struct Best {
    search_steps::RankScore score;
    int base = -1;
    int step = 0;
  } best;
  const auto rank = [&](int base, int step) {
    bool rankable = false;
    const search_steps::RankCandidate candidate =
        search_steps::rank_candidate(1.0 / static_cast<double>(bases[static_cast<size_t>(base)]), step,
                                     initial.zero_point, fixed_zero_point, block_min, range, rankable);
    if (!rankable) return;
    const search_steps::RankScore score = search_steps::rank_score(rank_sums(values, candidate), block, fixed_zero_point);
    if (search_steps::ranks_above(score, best.score)) best = {score, base, step};
  };
  for (int base = 0; base < static_cast<int>(bases.size()); ++base) {
    for (int step = search_steps::kFirstStep; step <= search_steps::kLastStep; step += search_steps::kCoarseStride) {
      rank(base, step);
    }
  }
  if (best.base < 0) return initial;
  const Best coarse = best;
  if (coarse.step > search_steps::kFirstStep) rank(coarse.base, coarse.step - 1);
  if (coarse.step < search_steps::kLastStep) rank(coarse.base, coarse.step + 1);
  const ScaleChoice ranked{search_steps::candidate_scale(bases[static_cast<size_t>(best.base)], best.step),
                           initial.zero_point};

  // Refit the best-ranked candidate and keep it when it beats min/max.
  ScaleChoice fitted;
  if (try_candidate(values, range, ranked, fixed_zero_point, store, fitted) &&
      squared_error(values, fitted, range) < initial_error) {
    return fitted;
  }
  return initial;
}

}  // namespace reference
}  // namespace onnxquant::kernels
