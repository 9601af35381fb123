// Scale search: choosing a quantization scale (and zero point) that minimizes the squared
// reconstruction error of a block, instead of mapping its min and max onto the code range.
//
// Each candidate shrinks or stretches the min/max scale by a factor and quantizes the block with
// it. A ranking pass scores every candidate by the error of the least-squares fit to its codes, in
// closed form from three sums. The best-ranked candidate is then refitted by least squares and
// scored exactly, as a runtime that computes round(x / scale) + zero_point would quantize. It
// replaces the min/max choice only when its error is lower, so the result is never worse than
// min/max. docs/scale-search.md describes the method and its sources.
#pragma once

#include <cstdint>
#include <span>

namespace onnxquant::kernels {

struct CodeRange {
  int32_t min;
  int32_t max;
};

struct ScaleChoice {
  float scale;
  int32_t zero_point;
};

// Rounds a scale to the value the output stores (float32 or float16), never to zero.
using StoreScale = float (*)(float);

// Code for one value: saturate(round_half_to_even(value / scale) + zero_point); NaN gives the zero
// point.
int32_t quantize_to_code(float value, const ScaleChoice& choice, CodeRange range);

// Sum of squared errors of quantizing `values` with `choice`, over finite values.
double squared_error(std::span<const float> values, const ScaleChoice& choice, CodeRange range);

// Searches around `initial` (the min/max choice). With `fixed_zero_point` only the scale changes.
// With `allow_sign_flip` and a zero point off the middle of the range, negative scales are tried
// as well (MatMulNBits accepts them; DequantizeLinear outputs should keep positive scales).
// This version ranks eight candidates per pass over the values with the vector primitives and
// spreads the groups of candidates over `threads` threads. It returns what reference::search_scale
// returns, bit for bit.
ScaleChoice search_scale(std::span<const float> values, CodeRange range, ScaleChoice initial, bool fixed_zero_point,
                         StoreScale store, bool allow_sign_flip = false, int threads = 1);

namespace reference {

// The scalar search that defines search_scale's result: one candidate and one value at a time.
ScaleChoice search_scale(std::span<const float> values, CodeRange range, ScaleChoice initial, bool fixed_zero_point,
                         StoreScale store, bool allow_sign_flip = false);

}  // namespace reference

}  // namespace onnxquant::kernels
