// Block-wise 4-bit or 8-bit quantization of a [K, N] weight along K, in the layout of ONNX
// Runtime's com.microsoft MatMulNBits:
//   packed       [N, blocks_per_column, block_size * bits / 8] bytes. With 4 bits, element k of a
//                block is in the low nibble when k is even and the high nibble when k is odd; with
//                8 bits, each element takes one byte;
//   scales       [N, blocks_per_column];
//   zero_points  4 bits: [N, ceil(blocks_per_column / 2)] bytes, two zero points per byte, low nibble
//                first; 8 bits: [N, blocks_per_column] bytes. Empty when symmetric, where the
//                operator's default zero point 2^(bits - 1) applies (8 or 128).
// Dequantization: x' = (q - zero_point) * scale.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/error_metrics.hpp"

namespace onnxquant::kernels {

// The type the scales are stored in. Quantization uses the stored (rounded) scale value, so the
// codes match what a runtime computes from the file.
enum class ScaleType { kFloat32, kFloat16 };

inline constexpr int32_t kInt4SymmetricZeroPoint = 8;
inline constexpr int32_t kInt8SymmetricZeroPoint = 128;

// Rounds a scale to the value `scale_type` stores: float16 scales are clamped to the finite float16
// range, and no scale becomes 0. The sign is kept.
float store_scale(float scale, ScaleType scale_type);

struct BlockQuantized {
  int64_t k = 0;
  int64_t n = 0;
  int64_t block_size = 0;
  int64_t blocks_per_column = 0;
  int64_t bits = 4;  // 4 or 8
  std::vector<uint8_t> packed;
  std::vector<float> scales;  // values exactly representable in the chosen ScaleType
  std::vector<uint8_t> zero_points;
  // With the scale search: the summed squared error that the min/max scales would have given, so
  // reports can show the search's gain without quantizing twice. 0 without the search.
  double minmax_squared_error = 0.0;
  // The error of the dequantized weight against the input. The fast version sums it while it
  // quantizes, per task of for_each_column_group in task order, so it is the same for any thread
  // count and instruction set but rounds differently from measure_error.
  ErrorMetrics error;
};

int64_t blocks_per_column(int64_t k, int64_t block_size);

// Quantizes weight [k, n] (row-major, as MatMul input B). Symmetric blocks use the signed value of
// largest magnitude m and scale m / -8, so m is represented exactly by code 0. Asymmetric blocks
// map [min(x, 0), max(x, 0)] onto [0, 15]. The padding of a last, shorter block does not take part
// in its scale and is filled with the zero point. Non-finite values are ignored when choosing
// scales; NaN becomes the zero point and infinities saturate.
// With `search_scales`, each block's scale (and zero point) comes from search_scale in
// scale_search.hpp, starting from the min/max choice above.
// These versions work on eight adjacent columns at once with the vector primitives and spread
// the blocks over `threads` threads. The result equals the reference's, bit for bit.
BlockQuantized quantize_blockwise_int4(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                       bool symmetric, ScaleType scale_type, bool search_scales = false,
                                       int threads = 1);

// The same with `bits` 4 or 8. With 8 bits, codes are [0, 255], symmetric blocks use scale m / -128
// with zero point 128, and asymmetric blocks map [min(x, 0), max(x, 0)] onto [0, 255].
// With `row_importance` (one non-negative entry per row k, or empty), the scale search weights the
// error of row k by row_importance[k] (search_scale_weighted in weighted_scale_search.hpp).
BlockQuantized quantize_blockwise(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                  int64_t bits, bool symmetric, ScaleType scale_type, bool search_scales = false,
                                  int threads = 1, std::span<const float> row_importance = {});

// Returns the dequantized weight as [k, n], the reference for error measurement. Both functions
// read `quantized.bits`.
std::vector<float> dequantize_blockwise(const BlockQuantized& quantized, int threads = 1);

// measure_error(weight, dequantize_blockwise(quantized, threads), threads), bit for bit, without
// the dequantized copy: each chunk of kErrorChunk elements is dequantized into a small buffer.
ErrorMetrics measure_blockwise_error(std::span<const float> weight, const BlockQuantized& quantized, int threads = 1);
std::vector<float> dequantize_blockwise_int4(const BlockQuantized& quantized, int threads = 1);

// The scalar implementations that define the results of the functions above: one block and one
// value at a time.
namespace reference {

BlockQuantized quantize_blockwise_int4(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                       bool symmetric, ScaleType scale_type, bool search_scales = false);
BlockQuantized quantize_blockwise(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                  int64_t bits, bool symmetric, ScaleType scale_type, bool search_scales = false,
                                  std::span<const float> row_importance = {});
std::vector<float> dequantize_blockwise(const BlockQuantized& quantized);
std::vector<float> dequantize_blockwise_int4(const BlockQuantized& quantized);

}  // namespace reference
}  // namespace onnxquant::kernels
