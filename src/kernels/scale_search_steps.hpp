// The steps of the scale search that the reference search and the lane search share, so that both
// compute every candidate with the same operations.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "kernels/scale_search.hpp"

namespace onnxquant::kernels::search_steps {

// Candidate factors on the min/max scale: 1.05 down to 0.75 in steps of 0.01. Factors below 1 clip
// the extremes of a block in exchange for finer steps for the other values.
inline constexpr int kFirstStep = -5;
inline constexpr int kLastStep = 25;
inline constexpr double kStepFactor = 0.01;
inline constexpr int kStepCount = kLastStep - kFirstStep + 1;
// The ranking pass tries every third step first (kFirstStep, kFirstStep + 3, ... kLastStep), then
// the two steps next to the best of those.
inline constexpr int kCoarseStride = 3;
inline constexpr int kCoarseCount = (kStepCount - 1) / kCoarseStride + 1;
static_assert((kLastStep - kFirstStep) % kCoarseStride == 0, "the coarse steps end on kLastStep");
// Quantize-and-refit rounds of the chosen candidate; each round can only lower the error of the fit.
inline constexpr int kRefitRounds = 2;
// The ranking pass adds float sums over runs of this many values into double totals: cheap sums
// that stay accurate for runs of millions of values (a whole tensor).
inline constexpr int64_t kRankChunk = 256;

// The scale of candidate `step` around `base`.
inline float candidate_scale(float base, int step) { return static_cast<float>(base * (1.0 - kStepFactor * step)); }

// The zero point that re-centers a block for `scale`, as min/max would. `block_min` is the minimum
// of the block's finite values, widened to include 0.
inline int32_t recenter_zero_point(float block_min, float scale, CodeRange range) {
  return static_cast<int32_t>(std::clamp(std::nearbyint(range.min - block_min / scale), static_cast<float>(range.min),
                                         static_cast<float>(range.max)));
}

// With a fixed zero point off the middle of the range ([0, 15] around 8), the opposite sign puts
// the largest magnitude on the shorter side of the range instead. Sets `base` to that
// opposite-sign scale and returns true when it is searched too.
bool sign_flip_base(const ScaleChoice& initial, CodeRange range, bool fixed_zero_point, bool allow_sign_flip,
                    float& base);

// 1 / (1 - kStepFactor * step) for every step from kFirstStep: the ranking pass multiplies by the
// inverse of a candidate's scale instead of dividing by the scale.
inline constexpr auto kInverseFactors = [] {
  std::array<double, kStepCount> factors{};
  for (int i = 0; i < kStepCount; ++i) factors[i] = 1.0 / (1.0 - kStepFactor * (kFirstStep + i));
  return factors;
}();

// A candidate as the ranking pass quantizes with it: q = clamp(nearbyint(x * inverse), low, high),
// which is code - zero_point with the inverse of the candidate's scale in place of a division.
struct RankCandidate {
  float inverse;
  float low;
  float high;
};

// The ranking candidate `step` around the base scale whose inverse is `inverse_base`. For
// asymmetric formats the zero point is recentered for the candidate. `rankable` is false, and the
// inverse 0, when the inverse is not finite or is 0; such candidates are not ranked.
inline RankCandidate rank_candidate(double inverse_base, int step, int32_t zero_point, bool fixed_zero_point,
                                    float block_min, CodeRange range, bool& rankable) {
  const auto inverse = static_cast<float>(inverse_base * kInverseFactors[step - kFirstStep]);
  rankable = std::isfinite(inverse) && inverse != 0.0f;
  if (!rankable) return {0.0f, 0.0f, 0.0f};
  if (!fixed_zero_point && inverse > 0.0f) {
    zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(range.min - block_min * inverse),
                                                 static_cast<float>(range.min), static_cast<float>(range.max)));
  }
  return {inverse, static_cast<float>(range.min - zero_point), static_cast<float>(range.max - zero_point)};
}

// Sums of the ranking pass over a block's finite values, for one candidate.
struct RankSums {
  double sum_q = 0.0;
  double sum_qq = 0.0;
  double sum_qx = 0.0;
};

// Count and sum of a block's finite values.
struct FiniteSums {
  double n = 0.0;
  double sum_x = 0.0;
};

// How much the least-squares fit to a candidate's codes lowers the squared error below sum x^2
// (times the count for asymmetric formats), as numerator / denominator. Candidates with no fit
// get 0 / 1, and rank below every candidate with a fit.
struct RankScore {
  double numerator = 0.0;
  double denominator = 1.0;
};

inline RankScore rank_score(const RankSums& sums, const FiniteSums& block, bool fixed_zero_point) {
  if (fixed_zero_point) {
    // The fit s = sum qx / sum qq lowers the error by (sum qx)^2 / sum qq.
    if (!(sums.sum_qq > 0.0) || sums.sum_qx == 0.0) return {};
    return {sums.sum_qx * sums.sum_qx, sums.sum_qq};
  }
  // The fit x ~ a q + b, a > 0, lowers the centered error by (n sum qx - sum q sum x)^2 /
  // (n determinant); n is the same for every candidate of a block, so it is left out.
  const double determinant = block.n * sums.sum_qq - sums.sum_q * sums.sum_q;
  const double numerator = block.n * sums.sum_qx - sums.sum_q * block.sum_x;
  if (!(determinant > 0.0) || !(numerator > 0.0)) return {};
  return {numerator * numerator, determinant};
}

// Whether `score` ranks strictly above `best`, compared without a division.
inline bool ranks_above(const RankScore& score, const RankScore& best) {
  return score.numerator * best.denominator > best.numerator * score.denominator;
}

// Least-squares fit of x ~ scale * (code - zero_point) with the zero point fixed, from
// sum x * (code - zero_point) and sum (code - zero_point)^2. Returns false when no fit exists.
bool fit_fixed(double numerator, double denominator, int32_t zero_point, ScaleChoice& fitted);

struct AffineSums {
  double n = 0.0;
  double sum_q = 0.0;
  double sum_x = 0.0;
  double sum_qq = 0.0;
  double sum_qx = 0.0;
};

// Least-squares fit of x ~ a * code + b from its sums, then zero_point = round(-b / a). Returns
// false when no fit with a finite positive a exists.
bool fit_affine(const AffineSums& sums, CodeRange range, ScaleChoice& fitted);

}  // namespace onnxquant::kernels::search_steps
