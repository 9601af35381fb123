// Reductions over axes (ReduceSum, ReduceMean, ...), ArgMax and ArgMin, Softmax, LogSoftmax and
// Hardmax.
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "eval/ops/common.hpp"
#include "eval/vector_math.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

enum class Reduction { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// The input viewed as kept and reduced dimensions: each output element reduces the elements at
// base + sum(r_i * reduced_strides[i]).
struct ReducePlan {
  std::vector<int64_t> output_shape;  // with keepdims applied
  std::vector<int64_t> kept_dims, kept_strides;
  std::vector<int64_t> reduced_dims, reduced_strides;
  int64_t reduced_count = 1;
};

ReducePlan plan_reduce(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool keepdims) {
  ReducePlan plan;
  const std::vector<int64_t> strides = strides_of(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end();
    if (reduced) {
      plan.reduced_dims.push_back(shape[d]);
      plan.reduced_strides.push_back(strides[d]);
      plan.reduced_count *= shape[d];
      if (keepdims) plan.output_shape.push_back(1);
    } else {
      plan.kept_dims.push_back(shape[d]);
      plan.kept_strides.push_back(strides[d]);
      plan.output_shape.push_back(shape[d]);
    }
  }
  return plan;
}

// The axes to reduce: from the attribute, or from the optional input since `axes_input_version`.
// An empty list reduces every axis, or none with noop_with_empty_axes.
std::vector<int64_t> reduce_axes(KernelContext& c, int axes_input_version, int64_t rank, bool& noop) {
  std::vector<int64_t> axes;
  if (c.version() >= axes_input_version) {
    if (const Tensor* input = c.optional_input(1)) axes = read_int64s(*input, "axes");
  } else {
    axes = c.attributes().get_ints("axes");
  }
  noop = axes.empty() && c.attributes().get_int("noop_with_empty_axes", 0) != 0;
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  return normalize_axes(axes, rank);
}

template <typename V>
double reduce_values(const V* in, int64_t base, const ReducePlan& plan, Reduction kind) {
  double result = 0;
  if (kind == Reduction::kMax) result = -std::numeric_limits<double>::infinity();
  if (kind == Reduction::kMin) result = std::numeric_limits<double>::infinity();
  if (kind == Reduction::kProd) result = 1;
  double max_for_exp = -std::numeric_limits<double>::infinity();
  const size_t rank = plan.reduced_dims.size();
  std::vector<int64_t> index(rank, 0);
  auto visit_all = [&](auto&& visit) {
    int64_t offset = base;
    for (int64_t i = 0; i < plan.reduced_count; ++i) {
      visit(static_cast<double>(load(in[offset])));
      for (size_t d = rank; d-- > 0;) {
        offset += plan.reduced_strides[d];
        if (++index[d] < plan.reduced_dims[d]) break;
        offset -= plan.reduced_strides[d] * plan.reduced_dims[d];
        index[d] = 0;
      }
    }
  };
  if (kind == Reduction::kLogSumExp) {
    visit_all([&](double x) { max_for_exp = std::max(max_for_exp, x); });
    if (std::isinf(max_for_exp)) max_for_exp = 0;
  }
  visit_all([&](double x) {
    switch (kind) {
      case Reduction::kSum:
      case Reduction::kMean:
      case Reduction::kLogSum: result += x; break;
      case Reduction::kMax: result = std::isnan(x) || std::isnan(result) ? NAN : std::max(result, x); break;
      case Reduction::kMin: result = std::isnan(x) || std::isnan(result) ? NAN : std::min(result, x); break;
      case Reduction::kProd: result *= x; break;
      case Reduction::kL1: result += std::abs(x); break;
      case Reduction::kL2:
      case Reduction::kSumSquare: result += x * x; break;
      case Reduction::kLogSumExp: result += std::exp(x - max_for_exp); break;
    }
  });
  switch (kind) {
    case Reduction::kMean: return result / static_cast<double>(plan.reduced_count);
    case Reduction::kL2: return std::sqrt(result);
    case Reduction::kLogSum: return std::log(result);
    case Reduction::kLogSumExp: return std::log(result) + max_for_exp;
    default: return result;
  }
}

template <typename T>
T to_element(double value) {
  if constexpr (std::is_floating_point_v<ComputeType<T>>) {
    return store<T>(static_cast<ComputeType<T>>(value));
  } else {
    // Integer reductions: an empty max or min gives the type's limit.
    if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    if (value <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    return static_cast<T>(value);
  }
}

template <Reduction kind>
void run_reduce(KernelContext& c, int axes_input_version) {
  const Tensor& input = c.input(0);
  bool noop = false;
  const std::vector<int64_t> axes = reduce_axes(c, axes_input_version, static_cast<int64_t>(input.shape.size()), noop);
  if (noop) {
    c.set_output(0, input);
    return;
  }
  const ReducePlan plan = plan_reduce(input.shape, axes, c.attributes().get_int("keepdims", 1) != 0);
  Tensor output = make_tensor(input.dtype, plan.output_shape);
  visit_dtype<TypeSet::kNumeric>(input.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.values<T>().data();
    T* out = output.values<T>().data();
    const int64_t count = static_cast<int64_t>(output.element_count());
    const size_t kept_rank = plan.kept_dims.size();
    c.pool().parallel_for(count, grain_for(plan.reduced_count), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        int64_t base = 0;
        int64_t rest = o;
        for (size_t d = kept_rank; d-- > 0;) {
          base += (rest % plan.kept_dims[d]) * plan.kept_strides[d];
          rest /= plan.kept_dims[d];
        }
        out[o] = to_element<T>(reduce_values(in, base, plan, kind));
      }
    });
  });
  c.set_output(0, std::move(output));
}

// ReduceSum takes its axes as an input from version 13, the others from version 18.
void run_reduce_sum(KernelContext& c) { run_reduce<Reduction::kSum>(c, 13); }
void run_reduce_mean(KernelContext& c) { run_reduce<Reduction::kMean>(c, 18); }
void run_reduce_max(KernelContext& c) { run_reduce<Reduction::kMax>(c, 18); }
void run_reduce_min(KernelContext& c) { run_reduce<Reduction::kMin>(c, 18); }
void run_reduce_prod(KernelContext& c) { run_reduce<Reduction::kProd>(c, 18); }
void run_reduce_l1(KernelContext& c) { run_reduce<Reduction::kL1>(c, 18); }
void run_reduce_l2(KernelContext& c) { run_reduce<Reduction::kL2>(c, 18); }
void run_reduce_log_sum(KernelContext& c) { run_reduce<Reduction::kLogSum>(c, 18); }
void run_reduce_log_sum_exp(KernelContext& c) { run_reduce<Reduction::kLogSumExp>(c, 18); }
void run_reduce_sum_square(KernelContext& c) { run_reduce<Reduction::kSumSquare>(c, 18); }

template <bool is_max>
void run_arg(KernelContext& c) {
  const Tensor& input = c.input(0);
  const int64_t rank = static_cast<int64_t>(input.shape.size());
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", 0), rank));
  const bool keepdims = c.attributes().get_int("keepdims", 1) != 0;
  const bool last = c.attributes().get_int("select_last_index", 0) != 0;
  std::vector<int64_t> shape = input.shape;
  if (keepdims) {
    shape[axis] = 1;
  } else {
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
  }
  Tensor output = make_tensor(onnx::TensorProto::INT64, shape);
  const int64_t dim = input.shape[axis];
  if (dim == 0) throw ModelError("the reduced axis is empty");
  const int64_t outer = product(std::span(input.shape).first(axis));
  const int64_t inner = product(std::span(input.shape).subspan(axis + 1));
  visit_dtype<TypeSet::kNumeric>(input.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.values<T>().data();
    int64_t* out = output.values<int64_t>().data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        auto best_value = load(in[o * dim * inner + i]);
        for (int64_t j = 1; j < dim; ++j) {
          const auto value = load(in[(o * dim + j) * inner + i]);
          const bool better = is_max ? (last ? value >= best_value : value > best_value)
                                     : (last ? value <= best_value : value < best_value);
          if (better) {
            best = j;
            best_value = value;
          }
        }
        out[o * inner + i] = best;
      }
    }
  });
  c.set_output(0, std::move(output));
}

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// exp(x) for x <= 0, with 0 below the float32 underflow: masked attention scores (about -1e9)
// would otherwise take libm's slow underflow path.
template <typename V>
V exp_or_zero(V x) {
  return x < V(-104) ? V(0) : std::exp(x);
}

// Normalizes groups of `dim` elements spaced `inner` apart. Before opset 13 the input is seen as a
// matrix [prod(shape[:axis]), prod(shape[axis:])] and each row is one group.
template <SoftmaxKind kind>
void run_softmax(KernelContext& c) {
  const Tensor& input = c.input(0);
  const int64_t rank = static_cast<int64_t>(input.shape.size());
  const bool legacy = c.version() < 13;
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", legacy ? 1 : -1), std::max<int64_t>(rank, 1)));
  const int64_t outer = product(std::span(input.shape).first(std::min(axis, input.shape.size())));
  const int64_t dim = legacy ? product(std::span(input.shape).subspan(std::min(axis, input.shape.size())))
                             : input.shape.at(axis);
  const int64_t inner = legacy ? 1 : product(std::span(input.shape).subspan(axis + 1));
  Tensor output = make_tensor(input.dtype, input.shape);
  visit_dtype<TypeSet::kFloat>(input.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    using V = ComputeType<T>;
    const T* in = input.values<T>().data();
    T* out = output.values<T>().data();
    c.pool().parallel_for(outer * inner, grain_for(dim), [&](int64_t begin, int64_t end) {
      std::vector<V> values(static_cast<size_t>(dim));
      std::vector<V> exponentials(static_cast<size_t>(dim));
      for (int64_t group = begin; group < end; ++group) {
        const int64_t base = (group / inner) * dim * inner + group % inner;
        V max = -std::numeric_limits<V>::infinity();
        int64_t arg = 0;
        for (int64_t j = 0; j < dim; ++j) {
          values[static_cast<size_t>(j)] = load(in[base + j * inner]);
          if (values[static_cast<size_t>(j)] > max) {
            max = values[static_cast<size_t>(j)];
            arg = j;
          }
        }
        V sum = 0;
        std::vector<V>& exps = exponentials;
        if constexpr (kind != SoftmaxKind::kHardmax) {
          for (auto& v : values) v -= max;
          if constexpr (std::is_same_v<V, float>) {
            exp_floats(values.data(), exps.data(), dim);
          } else {
            for (int64_t j = 0; j < dim; ++j) exps[static_cast<size_t>(j)] = exp_or_zero(values[static_cast<size_t>(j)]);
          }
          for (const V e : exps) sum += e;
        }
        const V log_sum = std::log(sum);
        for (int64_t j = 0; j < dim; ++j) {
          const V shifted = values[static_cast<size_t>(j)];
          V result = 0;
          if constexpr (kind == SoftmaxKind::kSoftmax) result = exps[static_cast<size_t>(j)] / sum;
          if constexpr (kind == SoftmaxKind::kLogSoftmax) result = shifted - log_sum;
          if constexpr (kind == SoftmaxKind::kHardmax) result = j == arg ? 1 : 0;
          out[base + j * inner] = store<T>(result);
        }
      }
    });
  });
  c.set_output(0, std::move(output));
}

}  // namespace

void register_reduce_ops(OperatorTable& table) {
  const std::vector<std::string> reduce_attributes = {"axes", "keepdims", "noop_with_empty_axes"};
  table.add(make_spec("ReduceSum", 1, run_reduce_sum, reduce_attributes));
  table.add(make_spec("ReduceMean", 1, run_reduce_mean, reduce_attributes));
  table.add(make_spec("ReduceMax", 1, run_reduce_max, reduce_attributes));
  table.add(make_spec("ReduceMin", 1, run_reduce_min, reduce_attributes));
  table.add(make_spec("ReduceProd", 1, run_reduce_prod, reduce_attributes));
  table.add(make_spec("ReduceL1", 1, run_reduce_l1, reduce_attributes));
  table.add(make_spec("ReduceL2", 1, run_reduce_l2, reduce_attributes));
  table.add(make_spec("ReduceLogSum", 1, run_reduce_log_sum, reduce_attributes));
  table.add(make_spec("ReduceLogSumExp", 1, run_reduce_log_sum_exp, reduce_attributes));
  table.add(make_spec("ReduceSumSquare", 1, run_reduce_sum_square, reduce_attributes));
  const std::vector<std::string> arg_attributes = {"axis", "keepdims", "select_last_index"};
  table.add(make_spec("ArgMax", 1, run_arg<true>, arg_attributes));
  table.add(make_spec("ArgMin", 1, run_arg<false>, arg_attributes));
  table.add(make_spec("Softmax", 1, run_softmax<SoftmaxKind::kSoftmax>, {"axis"}));
  table.add(make_spec("LogSoftmax", 1, run_softmax<SoftmaxKind::kLogSoftmax>, {"axis"}));
  table.add(make_spec("Hardmax", 1, run_softmax<SoftmaxKind::kHardmax>, {"axis"}));
}

}  // namespace onnxquant::eval
