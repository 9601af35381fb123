#include "kernels/block_quantization.hpp"

#include <algorithm>
#include <cassert>
#include <cfloat>
#include <cmath>

#include "kernels/float16.hpp"
#include "kernels/minmax_params.hpp"
#include "kernels/scale_search.hpp"
#include "kernels/weighted_scale_search.hpp"

namespace onnxquant::kernels {
namespace {

// The smallest positive float16 subnormal, 2^-24, and the largest finite float16.
constexpr float kMinHalfScale = 5.9604645e-8f;
constexpr float kMaxHalfScale = 65504.0f;

int32_t max_code(int64_t bits) { return (1 << bits) - 1; }
int32_t symmetric_zero_point(int64_t bits) { return 1 << (bits - 1); }

int32_t quantize_code(float value, float scale, int32_t zero_point, int32_t code_max) {
  if (std::isnan(value)) return zero_point;
  const float shifted = std::nearbyint(value / scale) + static_cast<float>(zero_point);
  return static_cast<int32_t>(std::clamp(shifted, 0.0f, static_cast<float>(code_max)));
}

ScaleChoice choose_block_params(std::span<const float> block, int64_t bits, bool symmetric, ScaleType scale_type) {
  if (symmetric) {
    float largest = 0.0f;
    for (float x : block) {
      if (std::isfinite(x) && std::fabs(x) > std::fabs(largest)) largest = x;
    }
    return nbits_symmetric_params(largest, bits, scale_type);
  }

  float min = 0.0f;
  float max = 0.0f;
  finite_range(block, min, max);
  return nbits_asymmetric_params(min, max, bits, scale_type);
}

// Stores code `index` of a packed run of 4-bit (two per byte, low nibble first) or 8-bit codes.
void set_code(std::vector<uint8_t>& bytes, int64_t offset, int64_t index, int64_t bits, int32_t code) {
  if (bits == 8) {
    bytes[offset + index] = static_cast<uint8_t>(code);
    return;
  }
  const int64_t byte_index = offset + index / 2;
  const auto nibble = static_cast<uint8_t>(code & 0x0f);
  bytes[byte_index] = index % 2 == 1 ? static_cast<uint8_t>((bytes[byte_index] & 0x0f) | (nibble << 4))
                                     : static_cast<uint8_t>((bytes[byte_index] & 0xf0) | nibble);
}

int32_t get_code(const std::vector<uint8_t>& bytes, int64_t offset, int64_t index, int64_t bits) {
  if (bits == 8) return bytes[offset + index];
  const uint8_t byte = bytes[offset + index / 2];
  return index % 2 == 1 ? (byte >> 4) & 0x0f : byte & 0x0f;
}

int64_t zero_point_bytes_per_column(int64_t blocks, int64_t bits) { return bits == 8 ? blocks : (blocks + 1) / 2; }

}  // namespace

float store_scale(float scale, ScaleType scale_type) {
  if (scale_type == ScaleType::kFloat32) {
    if (std::fabs(scale) < FLT_MIN) return std::copysign(FLT_MIN, scale);
    return scale;
  }
  // Out-of-range scales are clamped to finite float16 values; the codes then saturate.
  if (std::fabs(scale) > kMaxHalfScale) return std::copysign(kMaxHalfScale, scale);
  float stored = half_to_float(float_to_half(scale));
  if (std::fabs(stored) < kMinHalfScale) stored = std::copysign(kMinHalfScale, scale);
  return stored;
}

int64_t blocks_per_column(int64_t k, int64_t block_size) { return (k + block_size - 1) / block_size; }

namespace reference {

BlockQuantized quantize_blockwise_int4(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                       bool symmetric, ScaleType scale_type, bool search_scales) {
  return reference::quantize_blockwise(weight, k, n, block_size, 4, symmetric, scale_type, search_scales);
}

BlockQuantized quantize_blockwise(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                  int64_t bits, bool symmetric, ScaleType scale_type, bool search_scales,
                                  std::span<const float> row_importance) {
  assert(row_importance.empty() || static_cast<int64_t>(row_importance.size()) == k);
  assert(static_cast<int64_t>(weight.size()) == k * n);
  assert(bits == 4 || bits == 8);
  assert(block_size >= 2 && block_size % 2 == 0);

  BlockQuantized result;
  result.k = k;
  result.n = n;
  result.block_size = block_size;
  result.bits = bits;
  result.blocks_per_column = blocks_per_column(k, block_size);
  const int64_t bytes_per_block = block_size * bits / 8;
  const int64_t zero_point_bytes = zero_point_bytes_per_column(result.blocks_per_column, bits);
  result.packed.assign(static_cast<size_t>(n * result.blocks_per_column * bytes_per_block), 0);
  result.scales.resize(static_cast<size_t>(n * result.blocks_per_column));
  if (!symmetric) result.zero_points.assign(static_cast<size_t>(n * zero_point_bytes), 0);

  std::vector<float> block(static_cast<size_t>(block_size));
  for (int64_t column = 0; column < n; ++column) {
    for (int64_t b = 0; b < result.blocks_per_column; ++b) {
      // Gather the block's column values; a tail block is shorter than block_size.
      const int64_t k_begin = b * block_size;
      const int64_t length = std::min(block_size, k - k_begin);
      for (int64_t j = 0; j < length; ++j) block[j] = weight[(k_begin + j) * n + column];
      const std::span<const float> values(block.data(), static_cast<size_t>(length));

      ScaleChoice params = choose_block_params(values, bits, symmetric, scale_type);
      if (search_scales) result.minmax_squared_error += squared_error(values, params, {0, max_code(bits)});
      if (search_scales && !row_importance.empty()) {
        params = search_scale_weighted(
            values, row_importance.subspan(static_cast<size_t>(k_begin), static_cast<size_t>(length)),
            {0, max_code(bits)}, params, symmetric, store_for(scale_type), /*allow_sign_flip=*/true);
      } else if (search_scales) {
        params = reference::search_scale(values, {0, max_code(bits)}, params, symmetric, store_for(scale_type),
                                         /*allow_sign_flip=*/true);
      }
      const int64_t block_index = column * result.blocks_per_column + b;
      result.scales[block_index] = params.scale;
      if (!symmetric) set_code(result.zero_points, column * zero_point_bytes, b, bits, params.zero_point);

      const int64_t block_offset = block_index * bytes_per_block;
      for (int64_t j = 0; j < block_size; ++j) {
        const int32_t code =
            j < length ? quantize_code(values[j], params.scale, params.zero_point, max_code(bits)) : params.zero_point;
        set_code(result.packed, block_offset, j, bits, code);
      }
    }
  }
  result.error = measure_blockwise_error(weight, result, 1);
  return result;
}

std::vector<float> dequantize_blockwise_int4(const BlockQuantized& quantized) {
  return reference::dequantize_blockwise(quantized);
}

std::vector<float> dequantize_blockwise(const BlockQuantized& quantized) {
  std::vector<float> weight(static_cast<size_t>(quantized.k * quantized.n));
  const int64_t bits = quantized.bits;
  const int64_t bytes_per_block = quantized.block_size * bits / 8;
  const int64_t zero_point_bytes = zero_point_bytes_per_column(quantized.blocks_per_column, bits);
  const bool symmetric = quantized.zero_points.empty();
  for (int64_t column = 0; column < quantized.n; ++column) {
    for (int64_t kk = 0; kk < quantized.k; ++kk) {
      const int64_t b = kk / quantized.block_size;
      const int64_t j = kk % quantized.block_size;
      const int64_t block_index = column * quantized.blocks_per_column + b;
      const int32_t zero_point =
          symmetric ? symmetric_zero_point(bits) : get_code(quantized.zero_points, column * zero_point_bytes, b, bits);
      const int32_t code = get_code(quantized.packed, block_index * bytes_per_block, j, bits);
      weight[kk * quantized.n + column] = static_cast<float>(code - zero_point) * quantized.scales[block_index];
    }
  }
  return weight;
}

}  // namespace reference
}  // namespace onnxquant::kernels
