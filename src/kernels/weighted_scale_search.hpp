// Activation-aware scale search: search_scale (scale_search.hpp) with every value weighted by the
// importance of its input channel, so that the error of a value counts w_i (x_i - x'_i)^2. The
// importance of input channel k of a MatMul weight [K, N] is the mean of x_k^2 over calibration
// tokens of the MatMul's input A: the expected squared output error of a weight error e is then
// sum_k E[x_k^2] e_k^2 when the inputs are uncorrelated. docs/calibration.md describes it.
#pragma once

#include <span>

#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {

// Sum over finite values of weights[i] * (values[i] - restored)^2.
double weighted_squared_error(std::span<const float> values, std::span<const float> weights, const ScaleChoice& choice,
                              CodeRange range);

// search_scale with the same candidates, each refitted by weighted least squares and scored by the
// weighted error. `weights` has one non-negative entry per value; all-zero weights give `initial`.
ScaleChoice search_scale_weighted(std::span<const float> values, std::span<const float> weights, CodeRange range,
                                  ScaleChoice initial, bool fixed_zero_point, StoreScale store,
                                  bool allow_sign_flip = false);

}  // namespace onnxquant::kernels
