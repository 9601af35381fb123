// The steps of the scale search that the reference search and the lane search share, so that both
// compute every candidate with the same operations.
#pragma once

#include <cstdint>

#include "kernels/scale_search.hpp"

namespace onnxquant::kernels::search_steps {

// Candidate factors on the min/max scale: 1.05 down to 0.75 in steps of 0.01. Factors below 1 clip
// the extremes of a block in exchange for finer steps for the other values.
inline constexpr int kFirstStep = -5;
inline constexpr int kLastStep = 25;
inline constexpr double kStepFactor = 0.01;
inline constexpr int kStepCount = kLastStep - kFirstStep + 1;
// Quantize-and-refit rounds per candidate; each round can only lower the error of the fit.
inline constexpr int kRefitRounds = 2;

// The scale of candidate `step` around `base`.
float candidate_scale(float base, int step);

// The zero point that re-centers a block for `scale`, as min/max would. `block_min` is the minimum
// of the block's finite values, widened to include 0.
int32_t recenter_zero_point(float block_min, float scale, CodeRange range);

// With a fixed zero point off the middle of the range ([0, 15] around 8), the opposite sign puts
// the largest magnitude on the shorter side of the range instead. Sets `base` to that
// opposite-sign scale and returns true when it is searched too.
bool sign_flip_base(const ScaleChoice& initial, CodeRange range, bool fixed_zero_point, bool allow_sign_flip,
                    float& base);

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
