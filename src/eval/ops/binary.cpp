// Element-wise operators with broadcasting: arithmetic, comparisons, logic, bit operations, Where.
#include <cmath>
#include <fmt/format.h>
#include <type_traits>

#include "eval/ops/common.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Unsigned arithmetic for integers, so that overflow wraps instead of being undefined.
template <typename V>
using WrapType = std::conditional_t<(sizeof(V) < 4), uint32_t, std::make_unsigned_t<V>>;

template <typename V>
V wrapping_add(V a, V b) {
  if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
    return static_cast<V>(static_cast<WrapType<V>>(a) + static_cast<WrapType<V>>(b));
  } else {
    return a + b;
  }
}

template <typename V>
V wrapping_sub(V a, V b) {
  if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
    return static_cast<V>(static_cast<WrapType<V>>(a) - static_cast<WrapType<V>>(b));
  } else {
    return a - b;
  }
}

template <typename V>
V wrapping_mul(V a, V b) {
  if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
    return static_cast<V>(static_cast<WrapType<V>>(a) * static_cast<WrapType<V>>(b));
  } else {
    return a * b;
  }
}

void check_same_dtype(const Tensor& a, const Tensor& b) {
  if (a.dtype != b.dtype) {
    throw ModelError(fmt::format("inputs have different element types, {} and {}", dtype_name(a.dtype), dtype_name(b.dtype)));
  }
}

// Computes f(a, b) with numpy broadcasting. The result has T's element type, or Out's.
template <typename T, typename Out, typename U = T, typename F>
Tensor broadcast_binary(ThreadPool& pool, const Tensor& a, const Tensor& b, F f) {
  const std::vector<int64_t> shape = broadcast_shapes(a.shape, b.shape);
  Tensor result = make_tensor(dtype_of<Out>(), shape);
  const BroadcastWalk<2> walk(shape, {std::span<const int64_t>(a.shape), std::span<const int64_t>(b.shape)});
  const T* in_a = a.values<T>().data();
  const U* in_b = b.values<U>().data();
  Out* out = result.values<Out>().data();
  const int64_t stride_a = walk.inner_strides[0];
  const int64_t stride_b = walk.inner_strides[1];
  pool.parallel_for(walk.rows(), grain_for(walk.inner), [&](int64_t begin, int64_t end) {
    walk.for_rows(begin, end, [&](int64_t, int64_t out_offset, const std::array<int64_t, 2>& offsets) {
      const T* pa = in_a + offsets[0];
      const U* pb = in_b + offsets[1];
      Out* po = out + out_offset;
      for (int64_t i = 0; i < walk.inner; ++i) po[i] = f(pa[i * stride_a], pb[i * stride_b]);
    });
  });
  return result;
}

// Visits the element type of two same-typed inputs and applies an arithmetic f to loaded values.
template <TypeSet set, typename F>
Tensor arithmetic(ThreadPool& pool, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(a, b);
  return visit_dtype<set>(a.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    return broadcast_binary<T, T>(pool, a, b, [&](T x, T y) { return store<T>(f(load(x), load(y))); });
  });
}

template <TypeSet set, typename F>
Tensor comparison(ThreadPool& pool, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(a, b);
  return visit_dtype<set>(a.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    return broadcast_binary<T, bool>(pool, a, b, [&](T x, T y) { return static_cast<bool>(f(load(x), load(y))); });
  });
}

template <TypeSet set, typename F>
void run_arithmetic(KernelContext& c, F f) {
  c.set_output(0, arithmetic<set>(c.pool(), c.input(0), c.input(1), f));
}

template <TypeSet set, typename F>
void run_comparison(KernelContext& c, F f) {
  c.set_output(0, comparison<set>(c.pool(), c.input(0), c.input(1), f));
}

void run_add(KernelContext& c) {
  run_arithmetic<TypeSet::kNumeric>(c, [](auto x, auto y) { return wrapping_add(x, y); });
}
void run_sub(KernelContext& c) {
  run_arithmetic<TypeSet::kNumeric>(c, [](auto x, auto y) { return wrapping_sub(x, y); });
}
void run_mul(KernelContext& c) {
  run_arithmetic<TypeSet::kNumeric>(c, [](auto x, auto y) { return wrapping_mul(x, y); });
}

template <typename V>
V divide(V x, V y) {
  if constexpr (std::is_integral_v<V>) {
    if (y == 0) throw ModelError("integer division by zero");
    if constexpr (std::is_signed_v<V>) {
      // The one quotient that overflows wraps like two's complement negation.
      if (y == -1) return wrapping_sub(V{0}, x);
    }
  }
  return static_cast<V>(x / y);
}

void run_div(KernelContext& c) {
  run_arithmetic<TypeSet::kNumeric>(c, [](auto x, auto y) { return divide(x, y); });
}

template <typename V>
V minimum(V x, V y) {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<V>::quiet_NaN();
  }
  return y < x ? y : x;
}

template <typename V>
V maximum(V x, V y) {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<V>::quiet_NaN();
  }
  return x < y ? y : x;
}

// Folds the inputs of a variadic operator (Max, Min, Sum, Mean) pairwise with broadcasting.
template <typename F>
Tensor fold_inputs(KernelContext& c, F f) {
  Tensor result = c.input(0);
  for (size_t i = 1; i < c.input_count(); ++i) {
    result = arithmetic<TypeSet::kNumeric>(c.pool(), result, c.input(i), f);
  }
  return result;
}

void run_max(KernelContext& c) { c.set_output(0, fold_inputs(c, [](auto x, auto y) { return maximum(x, y); })); }
void run_min(KernelContext& c) { c.set_output(0, fold_inputs(c, [](auto x, auto y) { return minimum(x, y); })); }
void run_sum(KernelContext& c) { c.set_output(0, fold_inputs(c, [](auto x, auto y) { return wrapping_add(x, y); })); }

void run_mean(KernelContext& c) {
  Tensor sum = fold_inputs(c, [](auto x, auto y) { return x + y; });
  const double count = static_cast<double>(c.input_count());
  visit_dtype<TypeSet::kFloat>(sum.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    for (T& value : sum.values<T>()) value = store<T>(static_cast<ComputeType<T>>(load(value) / count));
  });
  c.set_output(0, std::move(sum));
}

// The exponent may have another element type than the base; both are read as double and the
// result is converted to the base's type.
void run_pow(KernelContext& c) {
  const Tensor& base = c.input(0);
  const Tensor& exponent = c.input(1);
  visit_dtype<TypeSet::kNumeric>(base.dtype, "input 0", [&](auto base_tag) {
    using T = decltype(base_tag);
    // A scalar exponent of 2 or 0.5 (RMS and layer norms written out) avoids the general pow.
    if (exponent.element_count() == 1 && exponent.shape.size() <= base.shape.size()) {
      const double power = read_double_scalar(exponent, "input 1");
      if (power == 2.0 || power == 0.5 || power == 1.0) {
        Tensor result = make_tensor(base.dtype, base.shape);
        const auto in = base.values<T>();
        const auto out = result.values<T>();
        for (size_t i = 0; i < in.size(); ++i) {
          const double x = static_cast<double>(load(in[i]));
          double value = x;
          if (power == 2.0) value = x * x;
          if (power == 0.5) value = std::sqrt(x);
          out[i] = store<T>(static_cast<ComputeType<T>>(value));
        }
        c.set_output(0, std::move(result));
        return;
      }
    }
    visit_dtype<TypeSet::kNumeric>(exponent.dtype, "input 1", [&](auto exponent_tag) {
      using E = decltype(exponent_tag);
      c.set_output(0, broadcast_binary<T, T, E>(c.pool(), base, exponent, [](T x, E y) {
        const double value = std::pow(static_cast<double>(load(x)), static_cast<double>(load(y)));
        return store<T>(static_cast<ComputeType<T>>(value));
      }));
    });
  });
}

template <typename V>
V modulo(V x, V y, bool fmod) {
  if constexpr (std::is_floating_point_v<V>) {
    return std::fmod(x, y);
  } else {
    if (y == 0) throw ModelError("integer modulo by zero");
    if constexpr (std::is_signed_v<V>) {
      if (y == -1) return 0;
      const V remainder = static_cast<V>(x % y);
      // Without fmod, the result takes the sign of the divisor, as in Python.
      if (!fmod && remainder != 0 && ((remainder < 0) != (y < 0))) return static_cast<V>(remainder + y);
      return remainder;
    } else {
      return static_cast<V>(x % y);
    }
  }
}

void run_mod(KernelContext& c) {
  const bool fmod = c.attributes().get_int("fmod", 0) != 0;
  if (!fmod && io::is_float_type(c.input(0).dtype)) {
    throw ModelError("Mod of floating-point inputs needs fmod = 1");
  }
  run_arithmetic<TypeSet::kNumeric>(c, [fmod](auto x, auto y) { return modulo(x, y, fmod); });
}

void run_prelu(KernelContext& c) {
  Tensor result = arithmetic<TypeSet::kSigned>(c.pool(), c.input(0), c.input(1), [](auto x, auto slope) {
    return x < 0 ? slope * x : x;
  });
  if (result.shape != c.input(0).shape) {
    throw ModelError(fmt::format("slope of shape {} does not broadcast to X of shape {}", shape_text(c.input(1).shape),
                                 shape_text(c.input(0).shape)));
  }
  c.set_output(0, std::move(result));
}

void run_equal(KernelContext& c) { run_comparison<TypeSet::kAll>(c, [](auto x, auto y) { return x == y; }); }
void run_less(KernelContext& c) { run_comparison<TypeSet::kNumeric>(c, [](auto x, auto y) { return x < y; }); }
void run_less_equal(KernelContext& c) { run_comparison<TypeSet::kNumeric>(c, [](auto x, auto y) { return x <= y; }); }
void run_greater(KernelContext& c) { run_comparison<TypeSet::kNumeric>(c, [](auto x, auto y) { return x > y; }); }
void run_greater_equal(KernelContext& c) {
  run_comparison<TypeSet::kNumeric>(c, [](auto x, auto y) { return x >= y; });
}

template <typename F>
void run_logical(KernelContext& c, F f) {
  const Tensor& a = c.input(0);
  if (a.dtype != onnx::TensorProto::BOOL) throw_unsupported_dtype(a.dtype, "input 0");
  check_same_dtype(a, c.input(1));
  c.set_output(0, broadcast_binary<bool, bool>(c.pool(), a, c.input(1), f));
}

void run_and(KernelContext& c) { run_logical(c, [](bool x, bool y) { return x && y; }); }
void run_or(KernelContext& c) { run_logical(c, [](bool x, bool y) { return x || y; }); }
void run_xor(KernelContext& c) { run_logical(c, [](bool x, bool y) { return x != y; }); }

template <typename F>
void run_bitwise(KernelContext& c, F f) {
  const Tensor& a = c.input(0);
  check_same_dtype(a, c.input(1));
  visit_dtype<TypeSet::kNumeric>(a.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      c.set_output(0, broadcast_binary<T, T>(c.pool(), a, c.input(1), [&](T x, T y) { return static_cast<T>(f(x, y)); }));
    } else {
      throw_unsupported_dtype(a.dtype, "input 0");
    }
  });
}

void run_bitwise_and(KernelContext& c) { run_bitwise(c, [](auto x, auto y) { return x & y; }); }
void run_bitwise_or(KernelContext& c) { run_bitwise(c, [](auto x, auto y) { return x | y; }); }
void run_bitwise_xor(KernelContext& c) { run_bitwise(c, [](auto x, auto y) { return x ^ y; }); }

void run_bit_shift(KernelContext& c) {
  const bool left = c.attributes().get_string("direction", "") == "LEFT";
  const Tensor& a = c.input(0);
  check_same_dtype(a, c.input(1));
  visit_dtype<TypeSet::kNumeric>(a.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
      c.set_output(0, broadcast_binary<T, T>(c.pool(), a, c.input(1), [left](T x, T y) {
        // Shifting by the width or more gives 0.
        if (y >= sizeof(T) * 8) return T{0};
        return static_cast<T>(left ? static_cast<uint64_t>(x) << y : x >> y);
      }));
    } else {
      throw_unsupported_dtype(a.dtype, "input 0");
    }
  });
}

void check_bit_shift(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const std::string direction = attributes.get_string("direction", "");
  if (direction != "LEFT" && direction != "RIGHT") {
    throw NotSupported(fmt::format("direction '{}' is invalid; expected LEFT or RIGHT", direction));
  }
}

void run_where(KernelContext& c) {
  const Tensor& condition = c.input(0);
  const Tensor& x = c.input(1);
  const Tensor& y = c.input(2);
  if (condition.dtype != onnx::TensorProto::BOOL) throw_unsupported_dtype(condition.dtype, "the condition");
  check_same_dtype(x, y);
  const std::vector<int64_t> shape = broadcast_shapes(broadcast_shapes(condition.shape, x.shape), y.shape);
  visit_by_size(x.dtype, "input 1", [&](auto tag) {
    using T = decltype(tag);
    Tensor result = make_tensor(x.dtype, shape);
    const BroadcastWalk<3> walk(shape, {std::span<const int64_t>(condition.shape), std::span<const int64_t>(x.shape),
                                        std::span<const int64_t>(y.shape)});
    const bool* pc = condition.values<bool>().data();
    const T* px = x.values<T>().data();
    const T* py = y.values<T>().data();
    T* out = result.values<T>().data();
    c.pool().parallel_for(walk.rows(), grain_for(walk.inner), [&](int64_t begin, int64_t end) {
      walk.for_rows(begin, end, [&](int64_t, int64_t out_offset, const std::array<int64_t, 3>& offsets) {
        for (int64_t i = 0; i < walk.inner; ++i) {
          const bool take_x = pc[offsets[0] + i * walk.inner_strides[0]];
          out[out_offset + i] = take_x ? px[offsets[1] + i * walk.inner_strides[1]]
                                       : py[offsets[2] + i * walk.inner_strides[2]];
        }
      });
    });
    c.set_output(0, std::move(result));
  });
}

}  // namespace

void register_binary_ops(OperatorTable& table) {
  // Versions before 7 broadcast through the legacy 'broadcast' and 'axis' attributes; before 8,
  // Max, Min, Sum and Mean do not broadcast. Neither form is supported.
  table.add(make_spec("Add", 7, run_add));
  table.add(make_spec("Sub", 7, run_sub));
  table.add(make_spec("Mul", 7, run_mul));
  table.add(make_spec("Div", 7, run_div));
  table.add(make_spec("Pow", 7, run_pow));
  table.add(make_spec("Mod", 10, run_mod, {"fmod"}));
  table.add(make_spec("Max", 8, run_max));
  table.add(make_spec("Min", 8, run_min));
  table.add(make_spec("Sum", 8, run_sum));
  table.add(make_spec("Mean", 8, run_mean));
  table.add(make_spec("PRelu", 7, run_prelu));
  table.add(make_spec("Equal", 7, run_equal));
  table.add(make_spec("Less", 7, run_less));
  table.add(make_spec("LessOrEqual", 12, run_less_equal));
  table.add(make_spec("Greater", 7, run_greater));
  table.add(make_spec("GreaterOrEqual", 12, run_greater_equal));
  table.add(make_spec("And", 7, run_and));
  table.add(make_spec("Or", 7, run_or));
  table.add(make_spec("Xor", 7, run_xor));
  table.add(make_spec("BitwiseAnd", 18, run_bitwise_and));
  table.add(make_spec("BitwiseOr", 18, run_bitwise_or));
  table.add(make_spec("BitwiseXor", 18, run_bitwise_xor));
  table.add(make_spec("BitShift", 11, run_bit_shift, {"direction"}, check_bit_shift));
  table.add(make_spec("Where", 9, run_where));
}

}  // namespace onnxquant::eval
