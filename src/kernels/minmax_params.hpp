// The min/max choice of scale and zero point for one block or channel, from the bounds that a
// kernel's reduction found. The reference kernels and the fast kernels both call these, so the
// two differ only in how they find the bounds.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/block_quantization.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {

// The min and max of the finite values of `block`, widened to include 0.
void finite_range(std::span<const float> block, float& min, float& max);

// MatMulNBits symmetric blocks, with codes [0, 2^bits - 1] around the zero point 2^(bits - 1).
// `largest` is the block's first finite value of largest magnitude, or 0 when there is none.
ScaleChoice nbits_symmetric_params(float largest, int64_t bits, ScaleType scale_type);

// MatMulNBits asymmetric blocks: `min` and `max` of the finite values, widened to include 0.
ScaleChoice nbits_asymmetric_params(float min, float max, int64_t bits, ScaleType scale_type);

// DequantizeLinear 4-bit blocks along axis 0 (int4 when symmetric, uint4 otherwise), from the
// finite min and max widened to include 0.
ScaleChoice axis_block_params(float min, float max, bool symmetric, ScaleType scale_type);

// The StoreScale of each scale type: store_scale in block_quantization.hpp.
StoreScale store_for(ScaleType scale_type);

// The StoreScale of linear quantization: float32 scales, at least the smallest normal float.
float store_linear_scale(float scale);

// Per-tensor or per-channel linear quantization, from the finite min and max widened to include 0.
LinearQuantParams linear_params(float min, float max, bool symmetric, IntegerRange range);

}  // namespace onnxquant::kernels
