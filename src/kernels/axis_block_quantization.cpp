#include "kernels/axis_block_quantization.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "kernels/minmax_params.hpp"
#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {
namespace {

ScaleChoice choose_minmax(std::span<const float> block, bool symmetric, ScaleType scale_type) {
  float min = 0.0f;
  float max = 0.0f;
  finite_range(block, min, max);
  return axis_block_params(min, max, symmetric, scale_type);
}

}  // namespace

namespace reference {

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
  const CodeRange range = symmetric ? kInt4CodeRange : kUint4CodeRange;

  std::vector<float> block(static_cast<size_t>(block_size));
  for (int64_t b = 0; b < result.blocks; ++b) {
    const int64_t k_begin = b * block_size;
    const int64_t length = std::min(block_size, k - k_begin);
    for (int64_t column = 0; column < n; ++column) {
      for (int64_t j = 0; j < length; ++j) block[j] = weight[(k_begin + j) * n + column];
      const std::span<const float> values(block.data(), static_cast<size_t>(length));

      ScaleChoice choice = choose_minmax(values, symmetric, scale_type);
      if (search_scales) {
        const ScaleChoice searched = reference::search_scale(values, range, choice, symmetric, store_for(scale_type),
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

}  // namespace reference
}  // namespace onnxquant::kernels
