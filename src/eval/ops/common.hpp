// Helpers shared by the operator kernels: axes, shape inputs, strides and broadcasting.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "eval/element_types.hpp"
#include "eval/kernel.hpp"
#include "eval/tensor.hpp"

namespace onnxquant::eval {

// Maps a possibly negative axis into [0, rank). Throws ModelError when it is outside [-rank, rank).
int64_t normalize_axis(int64_t axis, int64_t rank);
std::vector<int64_t> normalize_axes(std::span<const int64_t> axes, int64_t rank);

// The values of an int32 or int64 tensor (a shape, axes, pads, indices) as int64.
std::vector<int64_t> read_int64s(const Tensor& tensor, const char* role);
int64_t read_int64_scalar(const Tensor& tensor, const char* role);
// The single value of a one-element numeric tensor, as double.
double read_double_scalar(const Tensor& tensor, const char* role);

// Element `index` of a numeric or bool tensor, as double.
double read_double_element(const Tensor& tensor, int64_t index);

// The elements of a float, float16, bfloat16 or double tensor as float32.
std::vector<float> read_floats(const Tensor& tensor, const char* role);
// A tensor of `dtype` (float, float16, bfloat16 or double) holding `values`, rounded to nearest even.
Tensor tensor_from_floats(int32_t dtype, std::vector<int64_t> shape, std::span<const float> values);

// A copy of `input` converted to `dtype` as Cast converts (tensor_ops.cpp).
Tensor cast_to(const Tensor& input, int32_t dtype, ThreadPool& pool);

// Row-major strides in elements.
std::vector<int64_t> strides_of(std::span<const int64_t> shape);
int64_t product(std::span<const int64_t> dims);
std::string shape_text(std::span<const int64_t> shape);

// The numpy-style broadcast of two shapes. Throws ModelError when they do not broadcast.
std::vector<int64_t> broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b);

// Strides of `input` seen through the broadcast `output` shape: 0 along broadcast dimensions.
std::vector<int64_t> broadcast_strides(std::span<const int64_t> input, std::span<const int64_t> output);

// Walks an output shape in rows of its last dimension and gives, for each row, the offset of its
// first element in each of N inputs, so that kernels write one inner loop over contiguous or
// constant (stride 0) inputs.
template <size_t N>
struct BroadcastWalk {
  std::vector<int64_t> shape;                          // output shape, at least rank 1
  std::array<std::vector<int64_t>, N> strides;         // per input, per output dimension
  std::array<int64_t, N> inner_strides{};              // per input, along the last dimension
  int64_t inner = 1;                                   // length of the last dimension

  BroadcastWalk(std::span<const int64_t> output, const std::array<std::span<const int64_t>, N>& inputs) {
    shape.assign(output.begin(), output.end());
    for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(inputs[k], output);
    coalesce();
    for (size_t k = 0; k < N; ++k) inner_strides[k] = strides[k].back();
    inner = shape.back();
  }

  // Merges neighboring dimensions that every input walks the same way (contiguous together, or
  // broadcast together), so that same-shape operands become one long row.
  void coalesce() {
    std::vector<int64_t> merged_shape;
    std::array<std::vector<int64_t>, N> merged_strides;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;
      bool merge = !merged_shape.empty();
      for (size_t k = 0; merge && k < N; ++k) merge = merged_strides[k].back() == strides[k][d] * shape[d];
      if (merge) {
        merged_shape.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) merged_strides[k].back() = strides[k][d];
      } else {
        merged_shape.push_back(shape[d]);
        for (size_t k = 0; k < N; ++k) merged_strides[k].push_back(strides[k][d]);
      }
    }
    if (merged_shape.empty()) {
      merged_shape.push_back(product(shape));
      for (size_t k = 0; k < N; ++k) merged_strides[k] = {0};
    }
    shape = std::move(merged_shape);
    strides = std::move(merged_strides);
  }

  int64_t rows() const { return inner == 0 ? 0 : product(shape) / inner; }

  // Calls visit(row, output_offset, input_offsets) for rows [begin, end).
  template <typename Visit>
  void for_rows(int64_t begin, int64_t end, Visit&& visit) const {
    const size_t rank = shape.size();
    std::vector<int64_t> index(rank, 0);
    // Decompose the first row into an index over the leading dimensions.
    int64_t rest = begin;
    for (size_t d = rank - 1; d-- > 0;) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    std::array<int64_t, N> offsets{};
    for (size_t k = 0; k < N; ++k) {
      for (size_t d = 0; d + 1 < rank; ++d) offsets[k] += index[d] * strides[k][d];
    }
    for (int64_t row = begin; row < end; ++row) {
      visit(row, row * inner, offsets);
      // Advance the index over the leading dimensions like an odometer.
      for (size_t d = rank - 1; d-- > 0;) {
        ++index[d];
        for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
        if (index[d] < shape[d]) break;
        for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * shape[d];
        index[d] = 0;
      }
    }
  }
};

// Fills `output` (contiguous, of shape `shape`) with input elements: output element at index
// (i0, ..., in) is input element base + sum(i_d * strides[d]). Strides may be 0 (repeat) or
// negative (reverse). Transpose, Slice, Expand and Tile are such copies.
void strided_copy(const Tensor& input, int64_t base, std::span<const int64_t> shape, std::span<const int64_t> strides,
                  Tensor& output, ThreadPool& pool);

// Rows of this many elements or more are split over the threads of the pool.
inline constexpr int64_t kParallelElements = 1 << 15;

// The grain for parallel_for over `count` items of `work` elements each.
inline int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kParallelElements / std::max<int64_t>(1, work_per_item));
}

// An ai.onnx operator spec; see OperatorSpec for the fields.
OperatorSpec make_spec(const char* op_type, int min_version, KernelFunction run, std::vector<std::string> attributes = {},
                       CheckFunction check = nullptr);

// A com.microsoft operator spec (ONNX Runtime's contrib operators have one version, 1).
OperatorSpec make_microsoft_spec(const char* op_type, KernelFunction run, std::vector<std::string> attributes = {},
                                 CheckFunction check = nullptr);

// Rejects a node whose operator version introduced inputs beyond `max_inputs` that are present.
void check_input_count(const onnx::NodeProto& node, int max_inputs);

}  // namespace onnxquant::eval
