#include "kernels/axis_block_quantization.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {
namespace {

constexpr CodeRange kInt4Range{-8, 7};
constexpr CodeRange kUint4Range{0, 15};

float store_float32(float scale) { return store_scale(scale, ScaleType::kFloat32); }
float store_float16(float scale) { return store_scale(scale, ScaleType::kFloat16); }

ScaleChoice choose_minmax(std::span<const float> block, bool symmetric, ScaleType scale_type) {
  float min = 0.0f;
  float max = 0.0f;
  for (float x : block) {
    if (!std::isfinite(x)) continue;
    min = std::min(min, x);
    max = std::max(max, x);
  }
  if (symmetric) {
    // Positive scale that keeps min >= -8 * scale and max <= 7 * scale.
    const double scale = std::max(-static_cast<double>(min) / -kInt4Range.min, static_cast<double>(max) / kInt4Range.max);
    if (scale == 0.0) return {store_scale(1.0f, scale_type), 0};
    return {store_scale(static_cast<float>(scale), scale_type), 0};
  }

  const double span = static_cast<double>(max) - static_cast<double>(min);
  if (span == 0.0) return {store_scale(1.0f, scale_type), 0};
  const float scale = store_scale(static_cast<float>(span / kUint4Range.max), scale_type);
  const double zero_point = std::nearbyint(-static_cast<double>(min) / scale);
  return {scale, static_cast<int32_t>(std::clamp(zero_point, 0.0, static_cast<double>(kUint4Range.max)))};
}

}  // namespace

AxisBlockQuantized quantize_axis_blocks_4bit(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                             bool symmetric, ScaleType scale_type, bool search_scales) {
  assert(static_cast<int64_t>(weight.size()) == k * n);
  assert(block_size >= 1);

  AxisBlockQuantized result;
  result.k = k;
  result.n = n;
  result.block_size = block_size;
  result.blocks = blocks_per_column(k, block_size);
  result.is_signed = symmetric;
  result.codes.resize(static_cast<size_t>(k * n));
  result.scales.resize(static_cast<size_t>(result.blocks * n));
  if (!symmetric) result.zero_points.resize(static_cast<size_t>(result.blocks * n));
  const CodeRange range = symmetric ? kInt4Range : kUint4Range;

  std::vector<float> block(static_cast<size_t>(block_size));
  for (int64_t b = 0; b < result.blocks; ++b) {
    const int64_t k_begin = b * block_size;
    const int64_t length = std::min(block_size, k - k_begin);
    for (int64_t column = 0; column < n; ++column) {
      for (int64_t j = 0; j < length; ++j) block[j] = weight[(k_begin + j) * n + column];
      const std::span<const float> values(block.data(), static_cast<size_t>(length));

      ScaleChoice choice = choose_minmax(values, symmetric, scale_type);
      if (search_scales) {
        const ScaleChoice searched = search_scale(values, range, choice, symmetric,
                                                  scale_type == ScaleType::kFloat16 ? store_float16 : store_float32,
                                                  /*allow_sign_flip=*/false);
        // DequantizeLinear scales stay positive; a fit that is not keeps the min/max choice.
        if (searched.scale > 0.0f) choice = searched;
      }

      const int64_t parameter_index = b * n + column;
      result.scales[parameter_index] = choice.scale;
      if (!symmetric) result.zero_points[parameter_index] = static_cast<int8_t>(choice.zero_point);
      for (int64_t j = 0; j < length; ++j) {
        result.codes[(k_begin + j) * n + column] = static_cast<int8_t>(quantize_to_code(values[j], choice, range));
      }
    }
  }
  return result;
}

std::vector<float> dequantize_axis_blocks(const AxisBlockQuantized& quantized) {
  std::vector<float> weight(quantized.codes.size());
  const bool symmetric = quantized.zero_points.empty();
  for (int64_t kk = 0; kk < quantized.k; ++kk) {
    for (int64_t column = 0; column < quantized.n; ++column) {
      const int64_t parameter_index = (kk / quantized.block_size) * quantized.n + column;
      const int32_t zero_point = symmetric ? 0 : quantized.zero_points[parameter_index];
      const int64_t index = kk * quantized.n + column;
      weight[index] = static_cast<float>(quantized.codes[index] - zero_point) * quantized.scales[parameter_index];
    }
  }
  return weight;
}

std::vector<uint8_t> pack_4bit(std::span<const int8_t> codes) {
  std::vector<uint8_t> packed((codes.size() + 1) / 2, 0);
  for (size_t i = 0; i < codes.size(); ++i) {
    const auto nibble = static_cast<uint8_t>(codes[i] & 0x0f);
    packed[i / 2] |= i % 2 == 0 ? nibble : static_cast<uint8_t>(nibble << 4);
  }
  return packed;
}

}  // namespace onnxquant::kernels
