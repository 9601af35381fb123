#include "eval/ops/common.hpp"

#include <cstring>
#include <fmt/format.h>

#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

int64_t normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    throw ModelError(fmt::format("axis {} is out of range for rank {}", axis, rank));
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> normalize_axes(std::span<const int64_t> axes, int64_t rank) {
  std::vector<int64_t> normalized;
  for (int64_t axis : axes) {
    const int64_t value = normalize_axis(axis, rank);
    if (std::find(normalized.begin(), normalized.end(), value) != normalized.end()) {
      throw ModelError(fmt::format("axis {} is repeated", axis));
    }
    normalized.push_back(value);
  }
  return normalized;
}

std::vector<int64_t> read_int64s(const Tensor& tensor, const char* role) {
  if (tensor.dtype == onnx::TensorProto::INT64) {
    const auto values = tensor.values<int64_t>();
    return {values.begin(), values.end()};
  }
  if (tensor.dtype == onnx::TensorProto::INT32) {
    const auto values = tensor.values<int32_t>();
    return {values.begin(), values.end()};
  }
  throw ModelError(fmt::format("{} has element type {}, expected int64 or int32", role, dtype_name(tensor.dtype)));
}

int64_t read_int64_scalar(const Tensor& tensor, const char* role) {
  const std::vector<int64_t> values = read_int64s(tensor, role);
  if (values.size() != 1) throw ModelError(fmt::format("{} has {} elements, expected 1", role, values.size()));
  return values[0];
}

double read_double_scalar(const Tensor& tensor, const char* role) {
  if (tensor.element_count() != 1) {
    throw ModelError(fmt::format("{} has {} elements, expected 1", role, tensor.element_count()));
  }
  return visit_dtype<TypeSet::kAll>(tensor.dtype, role, [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(load(tensor.values<T>()[0]));
  });
}

std::vector<float> read_floats(const Tensor& tensor, const char* role) {
  if (tensor.dtype == onnx::TensorProto::FLOAT) {
    const auto values = tensor.values<float>();
    return {values.begin(), values.end()};
  }
  return visit_dtype<TypeSet::kFloat>(tensor.dtype, role, [&](auto tag) {
    using T = decltype(tag);
    const auto values = tensor.values<T>();
    std::vector<float> result(values.size());
    for (size_t i = 0; i < values.size(); ++i) result[i] = static_cast<float>(load(values[i]));
    return result;
  });
}

Tensor tensor_from_floats(int32_t dtype, std::vector<int64_t> shape, std::span<const float> values) {
  Tensor tensor = make_tensor(dtype, std::move(shape));
  visit_dtype<TypeSet::kFloat>(dtype, "output", [&](auto tag) {
    using T = decltype(tag);
    const auto target = tensor.values<T>();
    for (size_t i = 0; i < target.size(); ++i) target[i] = store<T>(static_cast<ComputeType<T>>(values[i]));
  });
  return tensor;
}

std::vector<int64_t> strides_of(std::span<const int64_t> shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

int64_t product(std::span<const int64_t> dims) {
  int64_t result = 1;
  for (int64_t dim : dims) result *= dim;
  return result;
}

std::string shape_text(std::span<const int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::vector<int64_t> broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw ModelError(fmt::format("shapes {} and {} do not broadcast", shape_text(a), shape_text(b)));
    }
    result[i] = da == 1 ? db : da;
  }
  return result;
}

std::vector<int64_t> broadcast_strides(std::span<const int64_t> input, std::span<const int64_t> output) {
  const std::vector<int64_t> input_strides = strides_of(input);
  std::vector<int64_t> strides(output.size(), 0);
  const size_t offset = output.size() - input.size();
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] != 1) strides[offset + i] = input_strides[i];
  }
  return strides;
}

namespace {

// Drops dimensions of size 1 and merges neighbors that the input walks contiguously.
void coalesce_copy(std::vector<int64_t>& shape, std::vector<int64_t>& strides) {
  std::vector<int64_t> merged_shape;
  std::vector<int64_t> merged_strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!merged_shape.empty() && merged_strides.back() == strides[d] * shape[d]) {
      merged_shape.back() *= shape[d];
      merged_strides.back() = strides[d];
    } else {
      merged_shape.push_back(shape[d]);
      merged_strides.push_back(strides[d]);
    }
  }
  if (merged_shape.empty()) {
    merged_shape.push_back(1);
    merged_strides.push_back(0);
  }
  shape = std::move(merged_shape);
  strides = std::move(merged_strides);
}

}  // namespace

void strided_copy(const Tensor& input, int64_t base, std::span<const int64_t> shape_in, std::span<const int64_t> strides_in,
                  Tensor& output, ThreadPool& pool) {
  std::vector<int64_t> shape(shape_in.begin(), shape_in.end());
  std::vector<int64_t> strides(strides_in.begin(), strides_in.end());
  if (product(shape) == 0) return;
  coalesce_copy(shape, strides);
  const size_t rank = shape.size();
  const int64_t inner = shape.back();
  const int64_t inner_stride = strides.back();
  const int64_t rows = product(shape) / inner;
  const size_t size = stored_element_size(input.dtype);
  const std::byte* source = input.data.data();
  std::byte* target = output.data.data();

  visit_by_size(input.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    const T* in = reinterpret_cast<const T*>(source);
    T* out = reinterpret_cast<T*>(target);
    pool.parallel_for(rows, grain_for(inner), [&](int64_t begin, int64_t end) {
      std::vector<int64_t> index(rank, 0);
      int64_t rest = begin;
      int64_t offset = base;
      for (size_t d = rank - 1; d-- > 0;) {
        index[d] = rest % shape[d];
        rest /= shape[d];
        offset += index[d] * strides[d];
      }
      for (int64_t row = begin; row < end; ++row) {
        T* destination = out + row * inner;
        if (inner_stride == 1) {
          std::memcpy(destination, in + offset, static_cast<size_t>(inner) * size);
        } else {
          for (int64_t i = 0; i < inner; ++i) destination[i] = in[offset + i * inner_stride];
        }
        for (size_t d = rank - 1; d-- > 0;) {
          offset += strides[d];
          if (++index[d] < shape[d]) break;
          offset -= strides[d] * shape[d];
          index[d] = 0;
        }
      }
    });
  });
}

OperatorSpec make_spec(const char* op_type, int min_version, KernelFunction run, std::vector<std::string> attributes,
                       CheckFunction check) {
  OperatorSpec spec;
  spec.op_type = op_type;
  spec.min_version = min_version;
  spec.run = run;
  spec.attributes = std::move(attributes);
  spec.check = check;
  return spec;
}

OperatorSpec make_microsoft_spec(const char* op_type, KernelFunction run, std::vector<std::string> attributes,
                                 CheckFunction check) {
  OperatorSpec spec = make_spec(op_type, 1, run, std::move(attributes), check);
  spec.domain = "com.microsoft";
  return spec;
}

void check_input_count(const onnx::NodeProto& node, int max_inputs) {
  for (int i = max_inputs; i < node.input_size(); ++i) {
    if (!node.input(i).empty()) {
      throw NotSupported(fmt::format("input {} of {} is not implemented", i, node.op_type()));
    }
  }
}

}  // namespace onnxquant::eval
