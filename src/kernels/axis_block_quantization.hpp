// Block-wise 4-bit quantization of a [K, N] weight along K (axis 0), in the layout of ONNX
// DequantizeLinear (opset 21) with `axis = 0` and `block_size`:
//   codes        [K, N] row-major, int4 in [-8, 7] (symmetric) or uint4 in [0, 15] (asymmetric);
//   scales       [ceil(K / block_size), N], all positive;
//   zero_points  [ceil(K / block_size), N], asymmetric only; symmetric blocks use zero point 0.
// Dequantization: x'[k, n] = (code[k, n] - zero_point[k / block_size, n]) * scale[k / block_size, n].
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/block_quantization.hpp"
#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {

struct AxisBlockQuantized {
  int64_t k = 0;
  int64_t n = 0;
  int64_t block_size = 0;
  int64_t blocks = 0;  // ceil(k / block_size)
  bool is_signed = true;
  std::vector<int8_t> codes;        // [k, n]
  std::vector<float> scales;        // [blocks, n], exactly representable in the chosen ScaleType
  std::vector<int8_t> zero_points;  // [blocks, n]; empty when symmetric
};

// The codes of symmetric (int4) and asymmetric (uint4) blocks.
inline constexpr CodeRange kInt4CodeRange{-8, 7};
inline constexpr CodeRange kUint4CodeRange{0, 15};

// Quantizes weight [k, n] (row-major, as MatMul input B). Symmetric blocks take int4 codes with
// scale max(-min / 8, max / 7) over the block's finite values, so both extremes stay inside
// [-8, 7] and the scale stays positive. Asymmetric blocks map [min(x, 0), max(x, 0)] onto uint4
// [0, 15]. A block of zeros gets scale 1. NaN becomes the zero point and infinities saturate.
// With `search_scales`, each block's scale (and zero point) comes from search_scale in
// scale_search.hpp without sign flips, starting from that min/max choice.
// This version works on eight adjacent columns at once with the vector primitives and spreads the
// blocks over `threads` threads. The result equals the reference's, bit for bit.
AxisBlockQuantized quantize_axis_blocks_4bit(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                             bool symmetric, ScaleType scale_type, bool search_scales = false,
                                             int threads = 1);

// Returns the dequantized weight as [k, n], computed as DequantizeLinear defines it.
std::vector<float> dequantize_axis_blocks(const AxisBlockQuantized& quantized, int threads = 1);

// Packs 4-bit codes two per byte as ONNX stores int4 and uint4 tensors: element 2i in the low
// nibble of byte i and element 2i + 1 in the high nibble. An odd count leaves the last high
// nibble 0.
std::vector<uint8_t> pack_4bit(std::span<const int8_t> codes, int threads = 1);

// The scalar implementations that define the results of the functions above.
namespace reference {

AxisBlockQuantized quantize_axis_blocks_4bit(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                             bool symmetric, ScaleType scale_type, bool search_scales = false);
std::vector<float> dequantize_axis_blocks(const AxisBlockQuantized& quantized);
std::vector<uint8_t> pack_4bit(std::span<const int8_t> codes);

}  // namespace reference
}  // namespace onnxquant::kernels
