#include "kernels/dequantize.hpp"

#include <cstring>

namespace onnxquant::kernels {

int32_t read_code(std::span<const uint8_t> data, CodeType type, int64_t index) {
  switch (type) {
    case CodeType::kInt8: return static_cast<int8_t>(data[index]);
    case CodeType::kUint8: return data[index];
    case CodeType::kInt32: {
      int32_t value;
      std::memcpy(&value, data.data() + index * 4, sizeof(value));
      return value;
    }
    case CodeType::kUint4:
    case CodeType::kInt4: {
      const uint8_t byte = data[index / 2];
      const int32_t nibble = index % 2 == 0 ? byte & 0x0f : byte >> 4;
      // Sign-extend a 4-bit two's complement value.
      return type == CodeType::kInt4 && nibble >= 8 ? nibble - 16 : nibble;
    }
  }
  return 0;
}

std::vector<float> dequantize_codes(std::span<const uint8_t> data, CodeType type, int64_t count,
                                    std::span<const float> scales, std::span<const uint8_t> zero_points,
                                    CodeType zero_point_type, const std::vector<int64_t>& dims, int64_t axis,
                                    int64_t block_size) {
  // Element index -> (outer, axis position, inner); the parameter index follows the layout of the
  // scale tensor: one value (per-tensor), dims[axis] values (per-axis), or dims with dims[axis]
  // divided into blocks (blocked).
  int64_t inner = 1;
  for (size_t i = static_cast<size_t>(axis) + 1; i < dims.size(); ++i) inner *= dims[i];
  const int64_t axis_length = dims.empty() ? 1 : dims[axis];
  const bool per_tensor = scales.size() == 1;
  const int64_t blocks = block_size > 0 ? (axis_length + block_size - 1) / block_size : axis_length;

  std::vector<float> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    int64_t parameter = 0;
    if (!per_tensor) {
      const int64_t outer = i / (axis_length * inner);
      const int64_t position = (i / inner) % axis_length;
      const int64_t within = i % inner;
      const int64_t axis_index = block_size > 0 ? position / block_size : position;
      parameter = block_size > 0 ? (outer * blocks + axis_index) * inner + within : axis_index;
    }
    const int32_t zero_point = zero_points.empty() ? 0 : read_code(zero_points, zero_point_type, parameter);
    values[i] = static_cast<float>(read_code(data, type, i) - zero_point) * scales[parameter];
  }
  return values;
}

}  // namespace onnxquant::kernels
