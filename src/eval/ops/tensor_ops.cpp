// Operators that index, create or convert tensors: Gather, GatherElements, GatherND, ScatterND,
// ScatterElements, Cast, CastLike, Constant, ConstantOfShape, Range, Trilu, OneHot, NonZero, TopK,
// CumSum, EyeLike, Dropout.
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <limits>
#include <numeric>

#include "eval/ops/common.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

int64_t checked_index(int64_t index, int64_t dim) {
  if (index < -dim || index >= dim) throw ModelError(fmt::format("index {} is out of range for a dimension of {}", index, dim));
  return index < 0 ? index + dim : index;
}

void run_gather(KernelContext& c) {
  const Tensor& data = c.input(0);
  const std::vector<int64_t> indices = read_int64s(c.input(1), "indices");
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", 0),
                                                         static_cast<int64_t>(data.shape.size())));
  std::vector<int64_t> shape(data.shape.begin(), data.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  shape.insert(shape.end(), c.input(1).shape.begin(), c.input(1).shape.end());
  shape.insert(shape.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, data.shape.end());
  Tensor output = make_tensor(data.dtype, shape);

  const int64_t dim = data.shape[axis];
  const size_t size = stored_element_size(data.dtype);
  const int64_t outer = product(std::span(data.shape).first(axis));
  const size_t block = static_cast<size_t>(product(std::span(data.shape).subspan(axis + 1))) * size;
  const int64_t count = static_cast<int64_t>(indices.size());
  std::vector<int64_t> rows(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) rows[i] = checked_index(indices[i], dim);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(output.data.data() + (o * count + i) * static_cast<int64_t>(block),
                  data.data.data() + (o * dim + rows[static_cast<size_t>(i)]) * static_cast<int64_t>(block), block);
    }
  }
  c.set_output(0, std::move(output));
}

// Calls visit(output_index, data_offset) for each element of a tensor of `shape` whose `axis`
// coordinate is replaced by an index: GatherElements and ScatterElements.
template <typename Visit>
void for_each_axis_index(std::span<const int64_t> shape, std::span<const int64_t> data_shape, size_t axis,
                         std::span<const int64_t> indices, Visit&& visit) {
  const std::vector<int64_t> data_strides = strides_of(data_shape);
  const int64_t count = product(shape);
  std::vector<int64_t> index(shape.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      const int64_t coordinate = d == axis ? checked_index(indices[static_cast<size_t>(i)], data_shape[d]) : index[d];
      offset += coordinate * data_strides[d];
    }
    visit(i, offset);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

void run_gather_elements(KernelContext& c) {
  const Tensor& data = c.input(0);
  const Tensor& indices_tensor = c.input(1);
  const std::vector<int64_t> indices = read_int64s(indices_tensor, "indices");
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", 0),
                                                         static_cast<int64_t>(data.shape.size())));
  if (indices_tensor.shape.size() != data.shape.size()) throw ModelError("indices and data have different ranks");
  Tensor output = make_tensor(data.dtype, indices_tensor.shape);
  visit_by_size(data.dtype, "data", [&](auto tag) {
    using T = decltype(tag);
    const T* in = data.values<T>().data();
    T* out = output.values<T>().data();
    for_each_axis_index(indices_tensor.shape, data.shape, axis, indices, [&](int64_t i, int64_t offset) { out[i] = in[offset]; });
  });
  c.set_output(0, std::move(output));
}

// Applies an update to a target element with a Scatter reduction.
template <typename T>
void reduce_into(T& target, T update, const std::string& reduction) {
  if (reduction == "none") {
    target = update;
    return;
  }
  using V = ComputeType<T>;
  const V a = load(target);
  const V b = load(update);
  V result = b;
  if (reduction == "add") result = static_cast<V>(a + b);
  if (reduction == "mul") result = static_cast<V>(a * b);
  if (reduction == "max") result = std::max(a, b);
  if (reduction == "min") result = std::min(a, b);
  target = store<T>(result);
}

void check_reduction(const onnx::NodeProto&, const NodeAttributes& attributes, int version) {
  const std::string reduction = attributes.get_string("reduction", "none");
  const bool known = reduction == "none" || reduction == "add" || reduction == "mul" ||
                     (version >= 18 && (reduction == "max" || reduction == "min"));
  if (!known) throw NotSupported(fmt::format("reduction '{}' is not supported", reduction));
}

void run_scatter_elements(KernelContext& c) {
  const Tensor& data = c.input(0);
  const Tensor& indices_tensor = c.input(1);
  const Tensor& updates = c.input(2);
  const std::vector<int64_t> indices = read_int64s(indices_tensor, "indices");
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", 0),
                                                         static_cast<int64_t>(data.shape.size())));
  const std::string reduction = c.attributes().get_string("reduction", "none");
  if (updates.shape != indices_tensor.shape || updates.dtype != data.dtype) {
    throw ModelError("updates must have the shape of indices and the element type of data");
  }
  Tensor output = data;
  visit_dtype<TypeSet::kAll>(data.dtype, "data", [&](auto tag) {
    using T = decltype(tag);
    T* out = output.values<T>().data();
    const T* in = updates.values<T>().data();
    for_each_axis_index(indices_tensor.shape, data.shape, axis, indices, [&](int64_t i, int64_t offset) {
      if constexpr (std::is_same_v<T, bool>) {
        out[offset] = in[i];
      } else {
        reduce_into(out[offset], in[i], reduction);
      }
    });
  });
  c.set_output(0, std::move(output));
}

// For GatherND and ScatterND: the offset in `data` of the slice that index tuple `tuple` names.
int64_t nd_offset(std::span<const int64_t> data_shape, std::span<const int64_t> data_strides, size_t first_axis,
                  std::span<const int64_t> tuple) {
  int64_t offset = 0;
  for (size_t k = 0; k < tuple.size(); ++k) {
    offset += checked_index(tuple[k], data_shape[first_axis + k]) * data_strides[first_axis + k];
  }
  return offset;
}

void run_gather_nd(KernelContext& c) {
  const Tensor& data = c.input(0);
  const Tensor& indices_tensor = c.input(1);
  const std::vector<int64_t> indices = read_int64s(indices_tensor, "indices");
  const size_t batch_dims = static_cast<size_t>(c.attributes().get_int("batch_dims", 0));
  const size_t q = indices_tensor.shape.size();
  if (q == 0 || batch_dims >= q || batch_dims > data.shape.size()) throw ModelError("indices rank and batch_dims do not fit");
  const size_t k = static_cast<size_t>(indices_tensor.shape.back());
  if (batch_dims + k > data.shape.size()) throw ModelError("index tuples are longer than the data rank");

  std::vector<int64_t> shape(indices_tensor.shape.begin(), indices_tensor.shape.end() - 1);
  shape.insert(shape.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(batch_dims + k), data.shape.end());
  Tensor output = make_tensor(data.dtype, shape);
  const std::vector<int64_t> data_strides = strides_of(data.shape);
  const int64_t batches = product(std::span(data.shape).first(batch_dims));
  const int64_t batch_stride = batch_dims == 0 ? 0 : data_strides[batch_dims - 1];
  const int64_t tuples_per_batch = product(std::span(indices_tensor.shape).subspan(batch_dims, q - 1 - batch_dims));
  const size_t size = stored_element_size(data.dtype);
  const int64_t slice = product(std::span(data.shape).subspan(batch_dims + k));
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t t = 0; t < tuples_per_batch; ++t) {
      const int64_t tuple_index = b * tuples_per_batch + t;
      const std::span<const int64_t> tuple(indices.data() + tuple_index * static_cast<int64_t>(k), k);
      const int64_t offset = b * batch_stride + nd_offset(data.shape, data_strides, batch_dims, tuple);
      std::memcpy(output.data.data() + tuple_index * slice * static_cast<int64_t>(size),
                  data.data.data() + offset * static_cast<int64_t>(size), static_cast<size_t>(slice) * size);
    }
  }
  c.set_output(0, std::move(output));
}

void run_scatter_nd(KernelContext& c) {
  const Tensor& data = c.input(0);
  const Tensor& indices_tensor = c.input(1);
  const Tensor& updates = c.input(2);
  const std::vector<int64_t> indices = read_int64s(indices_tensor, "indices");
  const std::string reduction = c.attributes().get_string("reduction", "none");
  if (indices_tensor.shape.empty()) throw ModelError("indices must have rank 1 or more");
  const size_t k = static_cast<size_t>(indices_tensor.shape.back());
  if (k > data.shape.size()) throw ModelError("index tuples are longer than the data rank");
  const int64_t tuples = product(std::span(indices_tensor.shape).first(indices_tensor.shape.size() - 1));
  const int64_t slice = product(std::span(data.shape).subspan(k));
  if (static_cast<int64_t>(updates.element_count()) != tuples * slice || updates.dtype != data.dtype) {
    throw ModelError("updates do not match the index tuples and the data");
  }
  const std::vector<int64_t> data_strides = strides_of(data.shape);
  Tensor output = data;
  visit_dtype<TypeSet::kAll>(data.dtype, "data", [&](auto tag) {
    using T = decltype(tag);
    T* out = output.values<T>().data();
    const T* in = updates.values<T>().data();
    for (int64_t t = 0; t < tuples; ++t) {
      const std::span<const int64_t> tuple(indices.data() + t * static_cast<int64_t>(k), k);
      const int64_t offset = nd_offset(data.shape, data_strides, 0, tuple);
      for (int64_t i = 0; i < slice; ++i) {
        if constexpr (std::is_same_v<T, bool>) {
          out[offset + i] = in[t * slice + i];
        } else {
          reduce_into(out[offset + i], in[t * slice + i], reduction);
        }
      }
    }
  });
  c.set_output(0, std::move(output));
}

// Converts one element. Floating-point values going to integers are truncated toward zero and
// clamped to the target range, and NaN becomes 0, because C++ leaves those conversions undefined.
template <typename From, typename To>
To convert_element(From value) {
  if constexpr (std::is_same_v<To, bool>) {
    return load(value) != 0;
  } else if constexpr (is_16bit_float<To>) {
    return store<To>(static_cast<float>(load(value)));
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(load(value));
  } else if constexpr (std::is_floating_point_v<ComputeType<From>>) {
    const double x = static_cast<double>(load(value));
    if (std::isnan(x)) return 0;
    if (x >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    if (x <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    return static_cast<To>(x);
  } else {
    return static_cast<To>(value);
  }
}

Tensor cast_tensor(const Tensor& input, int32_t to, ThreadPool& pool) {
  if (input.dtype == to) return input;
  Tensor output = make_tensor(to, input.shape);
  visit_dtype<TypeSet::kAll>(input.dtype, "input 0", [&](auto from_tag) {
    using From = decltype(from_tag);
    visit_dtype<TypeSet::kAll>(to, "the target type", [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* in = input.values<From>().data();
      To* out = output.values<To>().data();
      pool.parallel_for(static_cast<int64_t>(input.element_count()), kParallelElements, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = convert_element<From, To>(in[i]);
      });
    });
  });
  return output;
}

void run_cast(KernelContext& c) {
  c.set_output(0, cast_tensor(c.input(0), static_cast<int32_t>(c.attributes().require_int("to")), c.pool()));
}

void run_cast_like(KernelContext& c) { c.set_output(0, cast_tensor(c.input(0), c.input(1).dtype, c.pool())); }

bool is_cast_type(int64_t dtype) {
  using onnx::TensorProto;
  return dtype == TensorProto::FLOAT || dtype == TensorProto::DOUBLE || dtype == TensorProto::FLOAT16 ||
         dtype == TensorProto::BFLOAT16 || dtype == TensorProto::INT8 || dtype == TensorProto::UINT8 ||
         dtype == TensorProto::INT16 || dtype == TensorProto::UINT16 || dtype == TensorProto::INT32 ||
         dtype == TensorProto::UINT32 || dtype == TensorProto::INT64 || dtype == TensorProto::UINT64 ||
         dtype == TensorProto::BOOL;
}

void check_cast(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const int64_t to = attributes.require_int("to");
  if (!is_cast_type(to)) throw NotSupported(fmt::format("casting to {} is not supported", dtype_name(static_cast<int32_t>(to))));
  if (attributes.get_int("saturate", 1) != 1) throw NotSupported("saturate = 0 applies to float8 types, which are not supported");
}

void check_cast_like(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  if (attributes.get_int("saturate", 1) != 1) throw NotSupported("saturate = 0 applies to float8 types, which are not supported");
}

void run_constant(KernelContext& c) {
  const NodeAttributes& attributes = c.attributes();
  if (const onnx::TensorProto* value = attributes.find_tensor("value")) {
    c.set_output(0, tensor_from_proto(*value));
  } else if (const auto value = attributes.find_float("value_float")) {
    c.set_output(0, make_tensor<float>(onnx::TensorProto::FLOAT, {}, std::span(&*value, 1)));
  } else if (const auto value = attributes.find_int("value_int")) {
    c.set_output(0, make_tensor<int64_t>(onnx::TensorProto::INT64, {}, std::span(&*value, 1)));
  } else if (attributes.has("value_floats")) {
    const std::vector<float> values = attributes.get_floats("value_floats");
    c.set_output(0, make_tensor<float>(onnx::TensorProto::FLOAT, {static_cast<int64_t>(values.size())}, values));
  } else if (attributes.has("value_ints")) {
    const std::vector<int64_t> values = attributes.get_ints("value_ints");
    c.set_output(0, make_tensor<int64_t>(onnx::TensorProto::INT64, {static_cast<int64_t>(values.size())}, values));
  } else {
    throw ModelError("Constant has no value attribute");
  }
}

void check_constant(const onnx::NodeProto& node, const NodeAttributes& attributes, int) {
  if (node.attribute_size() != 1) throw NotSupported("Constant must have exactly one value attribute");
  if (const onnx::TensorProto* value = attributes.find_tensor("value")) tensor_from_proto(*value);
}

void run_constant_of_shape(KernelContext& c) {
  const std::vector<int64_t> shape = read_int64s(c.input(0), "shape");
  const onnx::TensorProto* value = c.attributes().find_tensor("value");
  if (value == nullptr) {
    c.set_output(0, make_tensor(onnx::TensorProto::FLOAT, shape));
    return;
  }
  const Tensor fill = tensor_from_proto(*value);
  if (fill.element_count() != 1) throw ModelError("the value attribute must hold one element");
  Tensor output = make_tensor(fill.dtype, shape);
  const size_t size = fill.data.size();
  for (size_t offset = 0; offset < output.data.size(); offset += size) {
    std::memcpy(output.data.data() + offset, fill.data.data(), size);
  }
  c.set_output(0, std::move(output));
}

void run_range(KernelContext& c) {
  const Tensor& start = c.input(0);
  visit_dtype<TypeSet::kNumeric>(start.dtype, "start", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_16bit_float<T>) {
      throw_unsupported_dtype(start.dtype, "start");
    } else {
      const T first = start.values<T>()[0];
      const T limit = c.input(1).values<T>()[0];
      const T delta = c.input(2).values<T>()[0];
      if (delta == 0) throw ModelError("delta is 0");
      const double steps = std::ceil((static_cast<double>(limit) - static_cast<double>(first)) / static_cast<double>(delta));
      const int64_t count = std::max<int64_t>(0, static_cast<int64_t>(steps));
      Tensor output = make_tensor(start.dtype, {count});
      auto out = output.values<T>();
      // Each element adds delta to the previous one, as the operator's function body does.
      T value = first;
      for (int64_t i = 0; i < count; ++i) {
        out[static_cast<size_t>(i)] = value;
        value = static_cast<T>(value + delta);
      }
      c.set_output(0, std::move(output));
    }
  });
}

void run_trilu(KernelContext& c) {
  const Tensor& input = c.input(0);
  if (input.shape.size() < 2) throw ModelError("Trilu needs rank 2 or more");
  const int64_t k = c.has_input(1) ? read_int64_scalar(c.input(1), "k") : 0;
  const bool upper = c.attributes().get_int("upper", 1) != 0;
  const int64_t rows = input.shape[input.shape.size() - 2];
  const int64_t columns = input.shape.back();
  Tensor output = input;
  const size_t size = stored_element_size(input.dtype);
  const int64_t matrices = product(input.shape) / std::max<int64_t>(1, rows * columns);
  for (int64_t m = 0; m < matrices; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < columns; ++j) {
        const bool keep = upper ? j - i >= k : j - i <= k;
        if (!keep) std::memset(output.data.data() + ((m * rows + i) * columns + j) * static_cast<int64_t>(size), 0, size);
      }
    }
  }
  c.set_output(0, std::move(output));
}

void run_one_hot(KernelContext& c) {
  const Tensor& indices = c.input(0);
  const Tensor& values = c.input(2);
  const int64_t depth = static_cast<int64_t>(read_double_scalar(c.input(1), "depth"));
  if (depth <= 0) throw ModelError(fmt::format("depth {} is not positive", depth));
  if (values.element_count() != 2) throw ModelError("values must hold [off_value, on_value]");
  const int64_t rank = static_cast<int64_t>(indices.shape.size()) + 1;
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", -1), rank));
  std::vector<int64_t> shape = indices.shape;
  shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(axis), depth);
  Tensor output = make_tensor(values.dtype, shape);
  const int64_t outer = product(std::span(indices.shape).first(axis));
  const int64_t inner = product(std::span(indices.shape).subspan(axis));
  visit_by_size(values.dtype, "values", [&](auto tag) {
    using T = decltype(tag);
    const T off = values.values<T>()[0];
    const T on = values.values<T>()[1];
    T* out = output.values<T>().data();
    std::fill(out, out + product(shape), off);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        int64_t index = static_cast<int64_t>(read_double_element(indices, o * inner + i));
        if (index < 0) index += depth;
        if (index >= 0 && index < depth) out[(o * depth + index) * inner + i] = on;
      }
    }
  });
  c.set_output(0, std::move(output));
}

void run_non_zero(KernelContext& c) {
  const Tensor& input = c.input(0);
  const size_t rank = input.shape.size();
  std::vector<int64_t> found;
  const int64_t count = static_cast<int64_t>(input.element_count());
  for (int64_t i = 0; i < count; ++i) {
    if (read_double_element(input, i) != 0) found.push_back(i);
  }
  const int64_t n = static_cast<int64_t>(found.size());
  Tensor output = make_tensor(onnx::TensorProto::INT64, {static_cast<int64_t>(std::max<size_t>(rank, 1)), n});
  auto out = output.values<int64_t>();
  const std::vector<int64_t> strides = strides_of(input.shape);
  for (int64_t j = 0; j < n; ++j) {
    for (size_t d = 0; d < rank; ++d) out[d * n + j] = found[j] / strides[d] % input.shape[d];
  }
  c.set_output(0, std::move(output));
}

void run_top_k(KernelContext& c) {
  const Tensor& input = c.input(0);
  const int64_t k = read_int64_scalar(c.input(1), "K");
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", -1),
                                                         static_cast<int64_t>(input.shape.size())));
  const bool largest = c.attributes().get_int("largest", 1) != 0;
  const int64_t dim = input.shape[axis];
  if (k < 0 || k > dim) throw ModelError(fmt::format("K {} is outside [0, {}]", k, dim));
  std::vector<int64_t> shape = input.shape;
  shape[axis] = k;
  Tensor values = make_tensor(input.dtype, shape);
  Tensor indices = make_tensor(onnx::TensorProto::INT64, shape);
  const int64_t outer = product(std::span(input.shape).first(axis));
  const int64_t inner = product(std::span(input.shape).subspan(axis + 1));
  visit_dtype<TypeSet::kNumeric>(input.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.values<T>().data();
    T* out = values.values<T>().data();
    int64_t* out_indices = indices.values<int64_t>().data();
    std::vector<int64_t> order(static_cast<size_t>(dim));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        auto at = [&](int64_t j) { return load(in[(o * dim + j) * inner + i]); };
        std::iota(order.begin(), order.end(), 0);
        // Equal values keep their index order, as the specification requires.
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return largest ? at(a) > at(b) : at(a) < at(b); });
        for (int64_t j = 0; j < k; ++j) {
          out[(o * k + j) * inner + i] = in[(o * dim + order[static_cast<size_t>(j)]) * inner + i];
          out_indices[(o * k + j) * inner + i] = order[static_cast<size_t>(j)];
        }
      }
    }
  });
  c.set_output(0, std::move(values));
  c.set_output(1, std::move(indices));
}

void check_top_k(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  if (attributes.get_int("sorted", 1) != 1) throw NotSupported("sorted = 0 is not supported");
}

void run_cum_sum(KernelContext& c) {
  const Tensor& input = c.input(0);
  const size_t axis = static_cast<size_t>(normalize_axis(read_int64_scalar(c.input(1), "axis"),
                                                         static_cast<int64_t>(input.shape.size())));
  const bool exclusive = c.attributes().get_int("exclusive", 0) != 0;
  const bool reverse = c.attributes().get_int("reverse", 0) != 0;
  Tensor output = make_tensor(input.dtype, input.shape);
  const int64_t dim = input.shape[axis];
  const int64_t outer = product(std::span(input.shape).first(axis));
  const int64_t inner = product(std::span(input.shape).subspan(axis + 1));
  visit_dtype<TypeSet::kNumeric>(input.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.values<T>().data();
    T* out = output.values<T>().data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        ComputeType<T> sum = 0;
        for (int64_t step = 0; step < dim; ++step) {
          const int64_t j = reverse ? dim - 1 - step : step;
          const int64_t offset = (o * dim + j) * inner + i;
          if (exclusive) {
            out[offset] = store<T>(sum);
            sum = static_cast<ComputeType<T>>(sum + load(in[offset]));
          } else {
            sum = static_cast<ComputeType<T>>(sum + load(in[offset]));
            out[offset] = store<T>(sum);
          }
        }
      }
    }
  });
  c.set_output(0, std::move(output));
}

void run_eye_like(KernelContext& c) {
  const Tensor& input = c.input(0);
  if (input.shape.size() != 2) throw ModelError("EyeLike needs a rank 2 input");
  const int32_t dtype = static_cast<int32_t>(c.attributes().get_int("dtype", input.dtype));
  const int64_t k = c.attributes().get_int("k", 0);
  Tensor output = make_tensor(dtype, input.shape);
  visit_dtype<TypeSet::kAll>(dtype, "dtype", [&](auto tag) {
    using T = decltype(tag);
    T* out = output.values<T>().data();
    for (int64_t i = 0; i < input.shape[0]; ++i) {
      const int64_t j = i + k;
      if (j >= 0 && j < input.shape[1]) out[i * input.shape[1] + j] = convert_element<float, T>(1.0f);
    }
  });
  c.set_output(0, std::move(output));
}

void run_dropout(KernelContext& c) {
  // Inference: the output is the input, and every element is kept.
  if (c.version() >= 12 && c.has_input(2) && read_double_scalar(c.input(2), "training_mode") != 0) {
    throw NotSupported("Dropout in training mode draws random numbers, which the evaluator does not do");
  }
  c.set_output(0, c.input(0));
  if (c.wants_output(1)) {
    Tensor mask = make_tensor(onnx::TensorProto::BOOL, c.input(0).shape);
    std::fill(mask.data.begin(), mask.data.end(), std::byte{1});
    c.set_output(1, std::move(mask));
  }
}

}  // namespace

double read_double_element(const Tensor& tensor, int64_t index) {
  return visit_dtype<TypeSet::kAll>(tensor.dtype, "input", [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(load(tensor.values<T>()[static_cast<size_t>(index)]));
  });
}

Tensor cast_to(const Tensor& input, int32_t dtype, ThreadPool& pool) { return cast_tensor(input, dtype, pool); }

void register_tensor_ops(OperatorTable& table) {
  table.add(make_spec("Gather", 1, run_gather, {"axis"}));
  table.add(make_spec("GatherElements", 11, run_gather_elements, {"axis"}));
  table.add(make_spec("GatherND", 11, run_gather_nd, {"batch_dims"}));
  table.add(make_spec("ScatterElements", 11, run_scatter_elements, {"axis", "reduction"}, check_reduction));
  table.add(make_spec("ScatterND", 11, run_scatter_nd, {"reduction"}, check_reduction));
  // Cast 1 names the target type with a string.
  table.add(make_spec("Cast", 6, run_cast, {"to", "saturate"}, check_cast));
  table.add(make_spec("CastLike", 15, run_cast_like, {"saturate"}, check_cast_like));
  table.add(make_spec("Constant", 1, run_constant, {"value", "value_float", "value_floats", "value_int", "value_ints"},
                      check_constant));
  table.add(make_spec("ConstantOfShape", 9, run_constant_of_shape, {"value"}));
  table.add(make_spec("Range", 11, run_range));
  table.add(make_spec("Trilu", 14, run_trilu, {"upper"}));
  table.add(make_spec("OneHot", 9, run_one_hot, {"axis"}));
  table.add(make_spec("NonZero", 9, run_non_zero));
  // TopK 1 reads K from an attribute.
  table.add(make_spec("TopK", 10, run_top_k, {"axis", "largest", "sorted"}, check_top_k));
  table.add(make_spec("CumSum", 11, run_cum_sum, {"exclusive", "reverse"}));
  table.add(make_spec("EyeLike", 9, run_eye_like, {"dtype", "k"}));
  // Dropout before 10 gives a mask of the input's type.
  table.add(make_spec("Dropout", 10, run_dropout, {"ratio", "seed"}));
}

}  // namespace onnxquant::eval
