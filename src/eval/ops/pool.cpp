// Pooling: MaxPool (with indices), AveragePool, LpPool and their global forms.
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "eval/ops/common.hpp"
#include "eval/ops/spatial.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

enum class PoolKind { kMax, kAverage, kLp };

// Visits the window of output position `o`: visit(input_index) for every element inside the input,
// and returns the number of window positions inside the padded input (for count_include_pad).
template <typename Visit>
int64_t visit_window(const SpatialGeometry& g, int64_t o, Visit&& visit) {
  const size_t rank = g.input.size();
  std::vector<int64_t> start(rank), index(rank, 0);
  int64_t rest = o;
  for (size_t d = rank; d-- > 0;) {
    start[d] = (rest % g.output[d]) * g.strides[d] - g.pad_begin[d];
    rest /= g.output[d];
  }
  int64_t padded_count = 1;
  for (size_t d = 0; d < rank; ++d) {
    // Window positions inside [-pad_begin, input + pad_end).
    int64_t inside = 0;
    for (int64_t k = 0; k < g.kernel[d]; ++k) {
      const int64_t position = start[d] + k * g.dilations[d];
      if (position < g.input[d] + g.pad_end[d]) ++inside;
    }
    padded_count *= inside;
  }
  const int64_t kernels = g.kernel_size();
  for (int64_t k = 0; k < kernels; ++k) {
    int64_t input_index = 0;
    bool inside = true;
    for (size_t d = 0; d < rank && inside; ++d) {
      const int64_t position = start[d] + index[d] * g.dilations[d];
      inside = position >= 0 && position < g.input[d];
      input_index = input_index * g.input[d] + position;
    }
    if (inside) visit(input_index);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < g.kernel[d]) break;
      index[d] = 0;
    }
  }
  return padded_count;
}

template <PoolKind kind>
void run_pool(KernelContext& c) {
  const Tensor& x = c.input(0);
  if (x.shape.size() < 3) throw ModelError("pooling needs X [N, C, D...]");
  const std::vector<int64_t> spatial(x.shape.begin() + 2, x.shape.end());
  const bool ceil_mode = c.attributes().get_int("ceil_mode", 0) != 0;
  const SpatialGeometry g = window_geometry(c.attributes(), spatial, {}, ceil_mode);
  const bool include_pad = c.attributes().get_int("count_include_pad", 0) != 0;
  const int64_t p = c.attributes().get_int("p", 2);
  const bool column_major = c.attributes().get_int("storage_order", 0) != 0;
  std::vector<int64_t> shape = {x.shape[0], x.shape[1]};
  shape.insert(shape.end(), g.output.begin(), g.output.end());
  const int64_t planes = x.shape[0] * x.shape[1];
  const int64_t outputs = g.output_size();
  const int64_t inputs = g.input_size();
  const bool want_indices = kind == PoolKind::kMax && c.wants_output(1);
  Tensor indices = want_indices ? make_tensor(onnx::TensorProto::INT64, shape) : Tensor{};

  Tensor y = make_tensor(x.dtype, shape);
  visit_dtype<TypeSet::kNumeric>(x.dtype, "X", [&](auto tag) {
    using T = decltype(tag);
    using V = ComputeType<T>;
    const T* in = x.values<T>().data();
    T* out = y.values<T>().data();
    c.pool().parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const T* image = in + plane * inputs;
        for (int64_t o = 0; o < outputs; ++o) {
          double sum = 0;
          int64_t count = 0;
          // As in ONNX Runtime, the maximum starts at the lowest finite value and a value replaces it
          // only when it is larger: NaN is skipped, and a window of NaN and -inf gives the lowest value.
          V best = lowest_finite<T>();
          int64_t best_index = -1;
          const int64_t padded = visit_window(g, o, [&](int64_t i) {
            const V value = load(image[i]);
            ++count;
            if constexpr (kind == PoolKind::kMax) {
              if (best_index < 0) best_index = i;
              if (value > best) {
                best = value;
                best_index = i;
              }
            } else if constexpr (kind == PoolKind::kLp) {
              sum += std::pow(std::abs(static_cast<double>(value)), static_cast<double>(p));
            } else {
              sum += static_cast<double>(value);
            }
          });
          V result = 0;
          if constexpr (kind == PoolKind::kMax) result = best;
          if constexpr (kind == PoolKind::kLp) result = static_cast<V>(std::pow(sum, 1.0 / static_cast<double>(p)));
          if constexpr (kind == PoolKind::kAverage) {
            const int64_t divisor = include_pad ? padded : count;
            result = static_cast<V>(divisor > 0 ? sum / static_cast<double>(divisor) : 0.0);
          }
          out[plane * outputs + o] = store<T>(result);
          if (want_indices) {
            // Indices count over the whole tensor, in row-major or (storage_order 1) column-major order.
            int64_t flat = best_index;
            if (column_major && best_index >= 0 && spatial.size() == 2) {
              flat = (best_index % spatial[1]) * spatial[0] + best_index / spatial[1];
            }
            indices.values<int64_t>()[static_cast<size_t>(plane * outputs + o)] = plane * inputs + flat;
          }
        }
      }
    });
  });
  c.set_output(0, std::move(y));
  if (want_indices) c.set_output(1, std::move(indices));
}

void run_max_pool(KernelContext& c) { run_pool<PoolKind::kMax>(c); }
void run_average_pool(KernelContext& c) { run_pool<PoolKind::kAverage>(c); }
void run_lp_pool(KernelContext& c) { run_pool<PoolKind::kLp>(c); }

void check_pool(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  check_auto_pad(attributes);
  if (!attributes.has("kernel_shape")) throw ModelError("the required attribute 'kernel_shape' is missing");
}

void check_max_pool(const onnx::NodeProto& node, const NodeAttributes& attributes, int version) {
  check_pool(node, attributes, version);
  if (attributes.get_int("storage_order", 0) != 0 && attributes.get_ints("kernel_shape").size() != 2) {
    throw NotSupported("storage_order 1 is supported for 2-D pooling only");
  }
}

// Global pooling reduces every spatial dimension to 1.
template <PoolKind kind>
void run_global_pool(KernelContext& c) {
  const Tensor& x = c.input(0);
  if (x.shape.size() < 2) throw ModelError("pooling needs X [N, C, ...]");
  const int64_t planes = x.shape[0] * x.shape[1];
  const int64_t size = product(std::span(x.shape).subspan(2));
  const int64_t p = c.attributes().get_int("p", 2);
  std::vector<int64_t> shape(x.shape.size(), 1);
  shape[0] = x.shape[0];
  shape[1] = x.shape[1];
  Tensor y = make_tensor(x.dtype, shape);
  visit_dtype<TypeSet::kFloat>(x.dtype, "X", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.values<T>().data();
    T* out = y.values<T>().data();
    c.pool().parallel_for(planes, grain_for(size), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        // The maximum starts at the lowest finite value and skips NaN, as in MaxPool.
        double result = kind == PoolKind::kMax ? static_cast<double>(lowest_finite<T>()) : 0.0;
        for (int64_t i = plane * size; i < (plane + 1) * size; ++i) {
          const double value = static_cast<double>(load(in[i]));
          if (kind == PoolKind::kMax && value > result) result = value;
          if (kind == PoolKind::kAverage) result += value;
          if (kind == PoolKind::kLp) result += std::pow(std::abs(value), static_cast<double>(p));
        }
        if (kind == PoolKind::kAverage) result /= static_cast<double>(size);
        if (kind == PoolKind::kLp) result = std::pow(result, 1.0 / static_cast<double>(p));
        out[plane] = store<T>(static_cast<ComputeType<T>>(result));
      }
    });
  });
  c.set_output(0, std::move(y));
}

}  // namespace

void register_pool_ops(OperatorTable& table) {
  // MaxPool 1 has no storage_order and Indices output; AveragePool 1 no count_include_pad.
  table.add(make_spec("MaxPool", 8, run_max_pool,
                      {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"},
                      check_max_pool));
  table.add(make_spec("AveragePool", 7, run_average_pool,
                      {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"},
                      check_pool));
  // LpPool 1 has a float p; LpPool 2 and later an int.
  table.add(make_spec("LpPool", 2, run_lp_pool, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"},
                      check_pool));
  table.add(make_spec("GlobalAveragePool", 1, run_global_pool<PoolKind::kAverage>));
  table.add(make_spec("GlobalMaxPool", 1, run_global_pool<PoolKind::kMax>));
  table.add(make_spec("GlobalLpPool", 2, run_global_pool<PoolKind::kLp>, {"p"}));
}

}  // namespace onnxquant::eval
