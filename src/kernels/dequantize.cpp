#include "kernels/dequantize.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/parallel.hpp"
#include "kernels/simd.hpp"

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

namespace {

// Element index -> (outer, axis position, inner). The parameter index follows the layout of the
// scale tensor: one value (per-tensor), dims[axis] values (per-axis), or dims with dims[axis]
// divided into blocks (blocked).
struct ParameterLayout {
  int64_t inner = 1;
  int64_t axis_length = 1;
  int64_t blocks = 1;
  int64_t block_size = 0;
  bool per_tensor = true;

  int64_t parameter(int64_t i) const {
    if (per_tensor) return 0;
    const int64_t outer = i / (axis_length * inner);
    const int64_t position = (i / inner) % axis_length;
    const int64_t within = i % inner;
    const int64_t axis_index = block_size > 0 ? position / block_size : position;
    return block_size > 0 ? (outer * blocks + axis_index) * inner + within : axis_index;
  }

  // The number of elements from i on (at most `limit`) whose parameters are parameter(i) for all
  // of them (`per_element` false) or parameter(i) + 0, 1, 2, ... (`per_element` true).
  int64_t run_length(int64_t i, int64_t limit, bool& per_element) const {
    per_element = false;
    if (per_tensor) return limit;
    const int64_t position = (i / inner) % axis_length;
    if (inner > 1) {
      // Blocked parameters follow the inner index; per-axis ones stay for the whole inner run.
      per_element = block_size > 0;
      return std::min(inner - i % inner, limit);
    }
    if (block_size > 0) return std::min({block_size - position % block_size, axis_length - position, limit});
    per_element = true;
    return std::min(axis_length - position, limit);
  }
};

ParameterLayout parameter_layout(size_t scale_count, const std::vector<int64_t>& dims, int64_t axis,
                                 int64_t block_size) {
  ParameterLayout layout;
  for (size_t i = static_cast<size_t>(axis) + 1; i < dims.size(); ++i) layout.inner *= dims[i];
  layout.axis_length = dims.empty() ? 1 : dims[axis];
  layout.per_tensor = scale_count == 1;
  layout.block_size = block_size;
  layout.blocks = block_size > 0 ? (layout.axis_length + block_size - 1) / block_size : layout.axis_length;
  return layout;
}

constexpr int64_t kElementsPerTask = 65536;
// Codes decoded at a time, into buffers on the stack.
constexpr int64_t kDecodeChunk = 2048;

void read_codes(std::span<const uint8_t> data, CodeType type, int64_t begin, int64_t count, int32_t* output) {
  if (type == CodeType::kInt8 || type == CodeType::kUint8) {
    simd::primitives().widen_bytes(data.data() + begin, count, type == CodeType::kInt8, output);
    return;
  }
  for (int64_t i = 0; i < count; ++i) output[i] = read_code(data, type, begin + i);
}

}  // namespace

std::vector<float> dequantize_codes(std::span<const uint8_t> data, CodeType type, int64_t count,
                                    std::span<const float> scales, std::span<const uint8_t> zero_points,
                                    CodeType zero_point_type, const std::vector<int64_t>& dims, int64_t axis,
                                    int64_t block_size, int threads) {
  const ParameterLayout layout = parameter_layout(scales.size(), dims, axis, block_size);
  std::vector<float> values(static_cast<size_t>(count));
  parallel_for(tasks_for(count, kElementsPerTask), threads, [&](int64_t task) {
    const int64_t task_end = std::min(count, (task + 1) * kElementsPerTask);
    int32_t codes[kDecodeChunk];
    int32_t run_zero_points[kDecodeChunk] = {};  // stays 0 without zero points
    for (int64_t begin = task * kElementsPerTask; begin < task_end; begin += kDecodeChunk) {
      const int64_t end = std::min(task_end, begin + kDecodeChunk);
      read_codes(data, type, begin, end - begin, codes);
      for (int64_t i = begin; i < end;) {
        bool per_element = false;
        const int64_t length = layout.run_length(i, end - i, per_element);
        const int64_t parameter = layout.parameter(i);
        if (!zero_points.empty()) {
          read_codes(zero_points, zero_point_type, parameter, per_element ? length : 1, run_zero_points);
        }
        simd::primitives().dequantize_run(codes + (i - begin), length, scales.data() + parameter, run_zero_points,
                                          per_element, values.data() + i);
        i += length;
      }
    }
  });
  return values;
}

namespace reference {

std::vector<float> dequantize_codes(std::span<const uint8_t> data, CodeType type, int64_t count,
                                    std::span<const float> scales, std::span<const uint8_t> zero_points,
                                    CodeType zero_point_type, const std::vector<int64_t>& dims, int64_t axis,
                                    int64_t block_size) {
  const ParameterLayout layout = parameter_layout(scales.size(), dims, axis, block_size);
  std::vector<float> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t parameter = layout.parameter(i);
    const int32_t zero_point = zero_points.empty() ? 0 : read_code(zero_points, zero_point_type, parameter);
    values[i] = static_cast<float>(read_code(data, type, i) - zero_point) * scales[parameter];
  }
  return values;
}

}  // namespace reference
}  // namespace onnxquant::kernels
