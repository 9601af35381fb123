// Block-wise 4-bit quantization of a [K, N] weight along K, in the layout of ONNX Runtime's
// com.microsoft MatMulNBits (bits 4):
//   packed       [N, blocks_per_column, block_size / 2] bytes, element k of a block in the low nibble
//                when k is even and the high nibble when k is odd;
//   scales       [N, blocks_per_column];
//   zero_points  [N, ceil(blocks_per_column / 2)] bytes, two 4-bit zero points per byte, low nibble
//                first; empty when symmetric, where the operator's default zero point 8 applies.
// Dequantization: x' = (q - zero_point) * scale.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace onnxquant::kernels {

// The type the scales are stored in. Quantization uses the stored (rounded) scale value, so the
// codes match what a runtime computes from the file.
enum class ScaleType { kFloat32, kFloat16 };

inline constexpr int32_t kInt4SymmetricZeroPoint = 8;

struct BlockQuantized {
  int64_t k = 0;
  int64_t n = 0;
  int64_t block_size = 0;
  int64_t blocks_per_column = 0;
  std::vector<uint8_t> packed;
  std::vector<float> scales;  // values exactly representable in the chosen ScaleType
  std::vector<uint8_t> zero_points;
};

int64_t blocks_per_column(int64_t k, int64_t block_size);

// Quantizes weight [k, n] (row-major, as MatMul input B). Symmetric blocks use the signed value of
// largest magnitude m and scale m / -8, so m is represented exactly by code 0. Asymmetric blocks
// map [min(x, 0), max(x, 0)] onto [0, 15]. The padding of a last, shorter block does not take part
// in its scale and is filled with the zero point. Non-finite values are ignored when choosing
// scales; NaN becomes the zero point and infinities saturate.
// With `search_scales`, each block's scale (and zero point) comes from search_scale in
// scale_search.hpp, starting from the min/max choice above.
BlockQuantized quantize_blockwise_int4(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                       bool symmetric, ScaleType scale_type, bool search_scales = false);

// Returns the dequantized weight as [k, n], the reference for error measurement.
std::vector<float> dequantize_blockwise_int4(const BlockQuantized& quantized);

}  // namespace onnxquant::kernels
