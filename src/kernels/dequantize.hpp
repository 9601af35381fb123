// Dequantization of stored integer codes to float32, the inverse used to restore float weights.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace onnxquant::kernels {

// Integer element types that DequantizeLinear reads, by their width and signedness.
enum class CodeType { kInt8, kUint8, kInt4, kUint4, kInt32 };

// Reads element i of a code buffer; 4-bit codes are packed two per byte, element 0 in the low nibble.
int32_t read_code(std::span<const uint8_t> data, CodeType type, int64_t index);

// DequantizeLinear for one tensor: y = (x - zero_point) * scale, where scale and zero point are
// indexed through `parameter_index` (per-tensor, per-axis or blocked). `zero_points` may be empty.
// This version decodes and converts runs of elements with the vector primitives on `threads`
// threads; the result equals the reference's, bit for bit.
std::vector<float> dequantize_codes(std::span<const uint8_t> data, CodeType type, int64_t count,
                                    std::span<const float> scales, std::span<const uint8_t> zero_points,
                                    CodeType zero_point_type, const std::vector<int64_t>& dims, int64_t axis,
                                    int64_t block_size, int threads = 1);

namespace reference {

// The scalar implementation that defines dequantize_codes: one element at a time.
std::vector<float> dequantize_codes(std::span<const uint8_t> data, CodeType type, int64_t count,
                                    std::span<const float> scales, std::span<const uint8_t> zero_points,
                                    CodeType zero_point_type, const std::vector<int64_t>& dims, int64_t axis,
                                    int64_t block_size);

}  // namespace reference
}  // namespace onnxquant::kernels
