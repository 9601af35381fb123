// Element-wise operators with one input: math functions, activations, Clip, Cast.
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "eval/ops/common.hpp"
#include "eval/vector_math.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Applies f to every element of input 0, writing an output of the same shape. The output element
// type is the input's, or Out when it is given (bool for IsNaN and IsInf).
template <TypeSet set, typename Out = void, typename F>
void apply_unary(KernelContext& context, F f) {
  const Tensor& x = context.input(0);
  visit_dtype<set>(x.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    using Result = std::conditional_t<std::is_void_v<Out>, T, Out>;
    Tensor y = make_tensor(dtype_of<Result>(), x.shape);
    const auto in = x.values<T>();
    const auto out = y.values<Result>();
    context.pool().parallel_for(static_cast<int64_t>(in.size()), kParallelElements, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if constexpr (std::is_void_v<Out>) {
          out[i] = store<T>(static_cast<ComputeType<T>>(f(load(in[i]))));
        } else {
          out[i] = static_cast<Result>(f(load(in[i])));
        }
      }
    });
    context.set_output(0, std::move(y));
  });
}

// Clamps v to [low, high]. NaN stays NaN, as in ONNX Runtime, because both comparisons are false;
// std::min and std::max would return a bound instead.
template <typename V>
V clamp_keep_nan(V v, V low, V high) {
  return v < low ? low : (v > high ? high : v);
}

template <typename V>
V absolute(V v) {
  if constexpr (std::is_unsigned_v<V> || std::is_same_v<V, bool>) {
    return v;
  } else {
    return v < 0 ? static_cast<V>(-v) : v;
  }
}

void run_abs(KernelContext& c) { apply_unary<TypeSet::kNumeric>(c, [](auto v) { return absolute(v); }); }
void run_neg(KernelContext& c) { apply_unary<TypeSet::kSigned>(c, [](auto v) { return -v; }); }
void run_sqrt(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::sqrt(v); }); }
// Applies a float32 array function in parallel ranges; returns false for other element types.
bool apply_float_array(KernelContext& c, void (*function)(const float*, float*, int64_t)) {
  const Tensor& x = c.input(0);
  if (x.dtype != onnx::TensorProto::FLOAT) return false;
  Tensor y = make_tensor(x.dtype, x.shape);
  const float* in = x.values<float>().data();
  float* out = y.values<float>().data();
  c.pool().parallel_for(static_cast<int64_t>(x.element_count()), kParallelElements,
                        [&](int64_t begin, int64_t end) { function(in + begin, out + begin, end - begin); });
  c.set_output(0, std::move(y));
  return true;
}

void run_exp(KernelContext& c) {
  if (apply_float_array(c, exp_floats)) return;
  apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::exp(v); });
}
void run_log(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::log(v); }); }
void run_tanh(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::tanh(v); }); }
void run_erf(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::erf(v); }); }
void run_sin(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::sin(v); }); }
void run_cos(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::cos(v); }); }
void run_tan(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::tan(v); }); }
void run_asin(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::asin(v); }); }
void run_acos(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::acos(v); }); }
void run_atan(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::atan(v); }); }
void run_sinh(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::sinh(v); }); }
void run_cosh(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::cosh(v); }); }
void run_asinh(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::asinh(v); }); }
void run_acosh(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::acosh(v); }); }
void run_atanh(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::atanh(v); }); }
void run_floor(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::floor(v); }); }
void run_ceil(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::ceil(v); }); }
// Rounds half to even: nearbyint uses the default rounding mode, which is to nearest even.
void run_round(KernelContext& c) { apply_unary<TypeSet::kFloat>(c, [](auto v) { return std::nearbyint(v); }); }

void run_reciprocal(KernelContext& c) {
  apply_unary<TypeSet::kFloat>(c, [](auto v) { return static_cast<decltype(v)>(1) / v; });
}

void run_sigmoid(KernelContext& c) {
  if (apply_float_array(c, sigmoid_floats)) return;
  apply_unary<TypeSet::kFloat>(c, [](auto v) {
    using V = decltype(v);
    // Both branches avoid exp of a large positive argument; below -104 exp underflows to 0.
    const V e = v < V(-104) || -v < V(-104) ? V(0) : std::exp(v >= 0 ? -v : v);
    if (v >= 0) return static_cast<V>(1) / (static_cast<V>(1) + e);
    return e / (static_cast<V>(1) + e);
  });
}

void run_relu(KernelContext& c) {
  // NaN stays NaN, as in ONNX Runtime.
  apply_unary<TypeSet::kSigned>(c, [](auto v) { return v < 0 ? static_cast<decltype(v)>(0) : v; });
}

void run_sign(KernelContext& c) {
  apply_unary<TypeSet::kNumeric>(c, [](auto v) {
    using V = decltype(v);
    if (v > 0) return static_cast<V>(1);
    if (v < 0) return static_cast<V>(-1);
    return v;  // zero keeps its sign bit; NaN stays NaN
  });
}

void run_softplus(KernelContext& c) {
  apply_unary<TypeSet::kFloat>(c, [](auto v) {
    // log(1 + exp(v)) written to stay finite for large v.
    return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
  });
}

void run_softsign(KernelContext& c) {
  apply_unary<TypeSet::kFloat>(c, [](auto v) { return v / (static_cast<decltype(v)>(1) + std::abs(v)); });
}

void run_mish(KernelContext& c) {
  apply_unary<TypeSet::kFloat>(c, [](auto v) {
    const auto softplus = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
    return v * std::tanh(softplus);
  });
}

void run_elu(KernelContext& c) {
  const double alpha = c.attributes().get_float("alpha", 1.0f);
  apply_unary<TypeSet::kFloat>(c, [alpha](auto v) {
    using V = decltype(v);
    return v >= 0 ? v : static_cast<V>(alpha) * (std::exp(v) - static_cast<V>(1));
  });
}

void run_celu(KernelContext& c) {
  const double alpha = c.attributes().get_float("alpha", 1.0f);
  apply_unary<TypeSet::kFloat>(c, [alpha](auto v) {
    using V = decltype(v);
    const V a = static_cast<V>(alpha);
    // max(0, v) + min(0, alpha * (exp(v / alpha) - 1)) of the specification, written so that NaN stays NaN.
    return v > 0 ? v : a * (std::exp(v / a) - static_cast<V>(1));
  });
}

void run_selu(KernelContext& c) {
  // Defaults from the ONNX Selu specification.
  const double alpha = c.attributes().get_float("alpha", 1.67326319217681884765625f);
  const double gamma = c.attributes().get_float("gamma", 1.05070102214813232421875f);
  apply_unary<TypeSet::kFloat>(c, [alpha, gamma](auto v) {
    using V = decltype(v);
    return static_cast<V>(gamma) * (v > 0 ? v : static_cast<V>(alpha) * (std::exp(v) - static_cast<V>(1)));
  });
}

void run_leaky_relu(KernelContext& c) {
  const double alpha = c.attributes().get_float("alpha", 0.01f);
  apply_unary<TypeSet::kFloat>(c, [alpha](auto v) { return v >= 0 ? v : static_cast<decltype(v)>(alpha) * v; });
}

void run_thresholded_relu(KernelContext& c) {
  const double alpha = c.attributes().get_float("alpha", 1.0f);
  apply_unary<TypeSet::kFloat>(c, [alpha](auto v) { return v > static_cast<decltype(v)>(alpha) ? v : 0; });
}

void run_hard_sigmoid(KernelContext& c) {
  const double alpha = c.attributes().get_float("alpha", 0.2f);
  const double beta = c.attributes().get_float("beta", 0.5f);
  apply_unary<TypeSet::kFloat>(c, [alpha, beta](auto v) {
    using V = decltype(v);
    return clamp_keep_nan(static_cast<V>(alpha) * v + static_cast<V>(beta), static_cast<V>(0), static_cast<V>(1));
  });
}

void run_hard_swish(KernelContext& c) {
  apply_unary<TypeSet::kFloat>(c, [](auto v) {
    using V = decltype(v);
    const V alpha = static_cast<V>(1.0 / 6.0);
    return v * clamp_keep_nan(alpha * v + static_cast<V>(0.5), static_cast<V>(0), static_cast<V>(1));
  });
}

void run_shrink(KernelContext& c) {
  const double bias = c.attributes().get_float("bias", 0.0f);
  const double lambd = c.attributes().get_float("lambd", 0.5f);
  apply_unary<TypeSet::kNumeric>(c, [bias, lambd](auto v) {
    using V = decltype(v);
    const double x = static_cast<double>(v);
    if (x < -lambd) return static_cast<V>(x + bias);
    if (x > lambd) return static_cast<V>(x - bias);
    return static_cast<V>(0);
  });
}

void run_gelu(KernelContext& c) {
  const bool tanh_form = c.attributes().get_string("approximate", "none") == "tanh";
  apply_unary<TypeSet::kFloat>(c, [tanh_form](auto v) {
    using V = decltype(v);
    if (tanh_form) {
      const V k = static_cast<V>(0.7978845608028654);  // sqrt(2 / pi)
      return static_cast<V>(0.5) * v * (static_cast<V>(1) + std::tanh(k * (v + static_cast<V>(0.044715) * v * v * v)));
    }
    return static_cast<V>(0.5) * v * (static_cast<V>(1) + std::erf(v * static_cast<V>(0.7071067811865476)));
  });
}

void check_gelu(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const std::string approximate = attributes.get_string("approximate", "none");
  if (approximate != "none" && approximate != "tanh") {
    throw NotSupported(fmt::format("approximate '{}' is not defined; expected 'none' or 'tanh'", approximate));
  }
}

void run_is_nan(KernelContext& c) {
  apply_unary<TypeSet::kFloat, bool>(c, [](auto v) { return std::isnan(v); });
}

void run_is_inf(KernelContext& c) {
  const bool negative = c.attributes().get_int("detect_negative", 1) != 0;
  const bool positive = c.attributes().get_int("detect_positive", 1) != 0;
  apply_unary<TypeSet::kFloat, bool>(c, [=](auto v) { return std::isinf(v) && (v > 0 ? positive : negative); });
}

void run_not(KernelContext& c) {
  const Tensor& x = c.input(0);
  if (x.dtype != onnx::TensorProto::BOOL) throw_unsupported_dtype(x.dtype, "input 0");
  apply_unary<TypeSet::kAll>(c, [](auto v) { return !static_cast<bool>(v); });
}

void run_bitwise_not(KernelContext& c) {
  const Tensor& x = c.input(0);
  visit_dtype<TypeSet::kNumeric>(x.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      apply_unary<TypeSet::kNumeric>(c, [](auto v) { return static_cast<decltype(v)>(~static_cast<uint64_t>(v)); });
    } else {
      throw_unsupported_dtype(x.dtype, "input 0");
    }
  });
}

// Clip reads its bounds from attributes before opset 11 and from optional inputs since. A missing
// bound is the type's largest finite value (or its negation), as in ONNX Runtime, so infinities are
// clipped to finite values and NaN stays NaN.
void run_clip(KernelContext& c) {
  const Tensor& x = c.input(0);
  visit_dtype<TypeSet::kNumeric>(x.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    using V = ComputeType<T>;
    V low = lowest_finite<T>();
    V high = largest_finite<T>();
    if (c.version() < 11) {
      low = static_cast<V>(c.attributes().get_float("min", -std::numeric_limits<float>::max()));
      high = static_cast<V>(c.attributes().get_float("max", std::numeric_limits<float>::max()));
    } else {
      if (const Tensor* min = c.optional_input(1)) low = static_cast<V>(read_double_scalar(*min, "min"));
      if (const Tensor* max = c.optional_input(2)) high = static_cast<V>(read_double_scalar(*max, "max"));
    }
    Tensor y = make_tensor(x.dtype, x.shape);
    const auto in = x.values<T>();
    const auto out = y.values<T>();
    for (size_t i = 0; i < in.size(); ++i) {
      const V v = load(in[i]);
      out[i] = store<T>(clamp_keep_nan(v, low, high));
    }
    c.set_output(0, std::move(y));
  });
}

}  // namespace

void register_unary_ops(OperatorTable& table) {
  // Versions before 6 carry the legacy 'consumed_inputs' attribute and are not supported.
  table.add(make_spec("Abs", 6, run_abs));
  table.add(make_spec("Neg", 6, run_neg));
  table.add(make_spec("Sqrt", 6, run_sqrt));
  table.add(make_spec("Reciprocal", 6, run_reciprocal));
  table.add(make_spec("Exp", 6, run_exp));
  table.add(make_spec("Log", 6, run_log));
  table.add(make_spec("Tanh", 6, run_tanh));
  table.add(make_spec("Erf", 9, run_erf));
  table.add(make_spec("Sigmoid", 6, run_sigmoid));
  table.add(make_spec("Relu", 6, run_relu));
  table.add(make_spec("Sin", 7, run_sin));
  table.add(make_spec("Cos", 7, run_cos));
  table.add(make_spec("Tan", 7, run_tan));
  table.add(make_spec("Asin", 7, run_asin));
  table.add(make_spec("Acos", 7, run_acos));
  table.add(make_spec("Atan", 7, run_atan));
  table.add(make_spec("Sinh", 9, run_sinh));
  table.add(make_spec("Cosh", 9, run_cosh));
  table.add(make_spec("Asinh", 9, run_asinh));
  table.add(make_spec("Acosh", 9, run_acosh));
  table.add(make_spec("Atanh", 9, run_atanh));
  table.add(make_spec("Floor", 6, run_floor));
  table.add(make_spec("Ceil", 6, run_ceil));
  table.add(make_spec("Round", 11, run_round));
  table.add(make_spec("Sign", 9, run_sign));
  table.add(make_spec("Softplus", 1, run_softplus));
  table.add(make_spec("Softsign", 1, run_softsign));
  table.add(make_spec("Mish", 18, run_mish));
  table.add(make_spec("Elu", 6, run_elu, {"alpha"}));
  table.add(make_spec("Celu", 12, run_celu, {"alpha"}));
  table.add(make_spec("Selu", 6, run_selu, {"alpha", "gamma"}));
  table.add(make_spec("LeakyRelu", 6, run_leaky_relu, {"alpha"}));
  table.add(make_spec("ThresholdedRelu", 10, run_thresholded_relu, {"alpha"}));
  table.add(make_spec("HardSigmoid", 6, run_hard_sigmoid, {"alpha", "beta"}));
  table.add(make_spec("HardSwish", 14, run_hard_swish));
  table.add(make_spec("Shrink", 9, run_shrink, {"bias", "lambd"}));
  table.add(make_spec("Gelu", 20, run_gelu, {"approximate"}, check_gelu));
  table.add(make_spec("IsNaN", 9, run_is_nan));
  table.add(make_spec("IsInf", 10, run_is_inf, {"detect_negative", "detect_positive"}));
  table.add(make_spec("Not", 1, run_not));
  table.add(make_spec("BitwiseNot", 18, run_bitwise_not));
  table.add(make_spec("Clip", 6, run_clip, {"min", "max"}));
}

}  // namespace onnxquant::eval
