// MatMul, Gemm and MatMulInteger.
#include "eval/ops/matmul.hpp"

#include <fmt/format.h>

#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

MatMulPlan plan_matmul(const std::vector<int64_t>& a_shape_in, const std::vector<int64_t>& b_shape_in) {
  if (a_shape_in.empty() || b_shape_in.empty()) throw ModelError("MatMul operands must have rank 1 or more");
  std::vector<int64_t> a_shape = a_shape_in;
  std::vector<int64_t> b_shape = b_shape_in;
  const bool a_vector = a_shape.size() == 1;
  const bool b_vector = b_shape.size() == 1;
  if (a_vector) a_shape.insert(a_shape.begin(), 1);
  if (b_vector) b_shape.push_back(1);

  MatMulPlan plan;
  plan.m = a_shape[a_shape.size() - 2];
  plan.k = a_shape.back();
  plan.n = b_shape.back();
  if (b_shape[b_shape.size() - 2] != plan.k) {
    throw ModelError(fmt::format("MatMul of shapes {} and {}: inner dimensions {} and {} differ", shape_text(a_shape_in),
                                 shape_text(b_shape_in), plan.k, b_shape[b_shape.size() - 2]));
  }
  const std::vector<int64_t> a_batch(a_shape.begin(), a_shape.end() - 2);
  const std::vector<int64_t> b_batch(b_shape.begin(), b_shape.end() - 2);
  const std::vector<int64_t> batch = broadcast_shapes(a_batch, b_batch);
  plan.output_shape = batch;
  if (!a_vector) plan.output_shape.push_back(plan.m);
  if (!b_vector) plan.output_shape.push_back(plan.n);

  const int64_t batches = product(batch);
  if (product(b_batch) == 1) {
    // One B for every batch: stack the batches of A into one tall product.
    plan.m *= batches;
    plan.a_offsets = {0};
    plan.b_offsets = {0};
    return plan;
  }
  const std::vector<int64_t> a_strides = broadcast_strides(a_batch, batch);
  const std::vector<int64_t> b_strides = broadcast_strides(b_batch, batch);
  std::vector<int64_t> index(batch.size(), 0);
  for (int64_t i = 0; i < batches; ++i) {
    int64_t a_offset = 0;
    int64_t b_offset = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      a_offset += index[d] * a_strides[d];
      b_offset += index[d] * b_strides[d];
    }
    plan.a_offsets.push_back(a_offset * plan.m * plan.k);
    plan.b_offsets.push_back(b_offset * plan.k * plan.n);
    for (size_t d = batch.size(); d-- > 0;) {
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }
  return plan;
}

namespace {

// MatMul in the element type; 16-bit floats are multiplied as float32 and rounded once.
Tensor matmul(const Tensor& a, const Tensor& b, ThreadPool& pool) {
  if (a.dtype != b.dtype) {
    throw ModelError(fmt::format("inputs have different element types, {} and {}", dtype_name(a.dtype), dtype_name(b.dtype)));
  }
  const MatMulPlan plan = plan_matmul(a.shape, b.shape);
  if (a.dtype == onnx::TensorProto::FLOAT16 || a.dtype == onnx::TensorProto::BFLOAT16) {
    const std::vector<float> left = read_floats(a, "A");
    const std::vector<float> right = read_floats(b, "B");
    std::vector<float> result(static_cast<size_t>(product(plan.output_shape)));
    run_matmul_plan<float>(plan, left.data(), right.data(), result.data(), pool);
    return tensor_from_floats(a.dtype, plan.output_shape, result);
  }
  Tensor output = make_tensor(a.dtype, plan.output_shape);
  visit_dtype<TypeSet::kNumeric>(a.dtype, "A", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t> ||
                  std::is_same_v<T, int64_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
      run_matmul_plan<T>(plan, a.values<T>().data(), b.values<T>().data(), output.values<T>().data(), pool);
    } else {
      throw_unsupported_dtype(a.dtype, "A");
    }
  });
  return output;
}

void run_matmul(KernelContext& c) { c.set_output(0, matmul(c.input(0), c.input(1), c.pool())); }

template <typename T>
void gemm_typed(KernelContext& c, const Tensor& a, const Tensor& b, const Tensor* bias, Tensor& y, int64_t m, int64_t n,
                int64_t k) {
  const bool trans_a = c.attributes().get_int("transA", 0) != 0;
  const bool trans_b = c.attributes().get_int("transB", 0) != 0;
  const auto alpha = static_cast<T>(c.attributes().get_float("alpha", 1.0f));
  const auto beta = static_cast<T>(c.attributes().get_float("beta", 1.0f));
  T* out = y.values<T>().data();
  T output_beta = T(0);
  if (bias != nullptr && beta != T(0)) {
    // C broadcasts to [M, N]; Y starts as C and the product is added with beta as its weight.
    Tensor broadcast = make_tensor(y.dtype, {m, n});
    if (bias->shape.size() > 2 || broadcast_shapes(bias->shape, broadcast.shape) != broadcast.shape) {
      throw ModelError(fmt::format("C of shape {} does not broadcast to [{}, {}]", shape_text(bias->shape), m, n));
    }
    strided_copy(*bias, 0, broadcast.shape, broadcast_strides(bias->shape, broadcast.shape), broadcast, c.pool());
    y.data = std::move(broadcast.data);
    out = y.values<T>().data();
    output_beta = beta;
  }
  GemmShape shape = packed_gemm_shape(m, n, k, trans_a, trans_b);
  gemm<T>(shape, alpha, a.values<T>().data(), b.values<T>().data(), output_beta, out, c.pool());
}

void run_gemm(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  const Tensor* bias = c.optional_input(2);
  if (a.shape.size() != 2 || b.shape.size() != 2) throw ModelError("Gemm needs two-dimensional A and B");
  if (a.dtype != b.dtype || (bias != nullptr && bias->dtype != a.dtype)) throw ModelError("Gemm inputs have different element types");
  const bool trans_a = c.attributes().get_int("transA", 0) != 0;
  const bool trans_b = c.attributes().get_int("transB", 0) != 0;
  const int64_t m = trans_a ? a.shape[1] : a.shape[0];
  const int64_t k = trans_a ? a.shape[0] : a.shape[1];
  const int64_t n = trans_b ? b.shape[0] : b.shape[1];
  if ((trans_b ? b.shape[1] : b.shape[0]) != k) {
    throw ModelError(fmt::format("Gemm of shapes {} and {}: inner dimensions differ", shape_text(a.shape), shape_text(b.shape)));
  }
  if (a.dtype == onnx::TensorProto::FLOAT16 || a.dtype == onnx::TensorProto::BFLOAT16) {
    const Tensor a32 = cast_to(a, onnx::TensorProto::FLOAT, c.pool());
    const Tensor b32 = cast_to(b, onnx::TensorProto::FLOAT, c.pool());
    const Tensor bias32 = bias != nullptr ? cast_to(*bias, onnx::TensorProto::FLOAT, c.pool()) : Tensor{};
    Tensor y = make_tensor(onnx::TensorProto::FLOAT, {m, n});
    gemm_typed<float>(c, a32, b32, bias != nullptr ? &bias32 : nullptr, y, m, n, k);
    c.set_output(0, cast_to(y, a.dtype, c.pool()));
    return;
  }
  Tensor y = make_tensor(a.dtype, {m, n});
  visit_dtype<TypeSet::kNumeric>(a.dtype, "A", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t> ||
                  std::is_same_v<T, int64_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
      gemm_typed<T>(c, a, b, bias, y, m, n, k);
    } else {
      throw_unsupported_dtype(a.dtype, "A");
    }
  });
  c.set_output(0, std::move(y));
}

// The 8-bit input minus its zero point as int32. The zero point is a scalar, or one value per
// index of `axis_from_end` (1: rows of A, 0: columns of B) when it is one-dimensional.
std::vector<int32_t> centered_int8(const Tensor& input, const Tensor* zero_point, int axis_from_end, const char* role) {
  if (input.dtype != onnx::TensorProto::UINT8 && input.dtype != onnx::TensorProto::INT8) throw_unsupported_dtype(input.dtype, role);
  if (zero_point != nullptr && zero_point->dtype != input.dtype) {
    throw ModelError(fmt::format("the zero point of {} has element type {}, expected {}", role, dtype_name(zero_point->dtype),
                                 dtype_name(input.dtype)));
  }
  const size_t count = input.element_count();
  std::vector<int32_t> result(count);
  const bool is_signed = input.dtype == onnx::TensorProto::INT8;
  auto element = [&](const Tensor& t, size_t i) -> int32_t {
    return is_signed ? t.values<int8_t>()[i] : t.values<uint8_t>()[i];
  };
  const size_t zero_count = zero_point != nullptr ? zero_point->element_count() : 0;
  const size_t rank = input.shape.size();
  const int64_t axis_dim = rank >= static_cast<size_t>(axis_from_end + 1) ? input.shape[rank - 1 - axis_from_end] : 1;
  const int64_t inner = axis_from_end == 1 && rank >= 1 ? input.shape.back() : 1;
  if (zero_count > 1 && static_cast<int64_t>(zero_count) != axis_dim) {
    throw ModelError(fmt::format("the zero point of {} has {} values, expected 1 or {}", role, zero_count, axis_dim));
  }
  for (size_t i = 0; i < count; ++i) {
    int32_t zero = 0;
    if (zero_count == 1) zero = element(*zero_point, 0);
    if (zero_count > 1) zero = element(*zero_point, static_cast<size_t>((static_cast<int64_t>(i) / inner) % axis_dim));
    result[i] = element(input, i) - zero;
  }
  return result;
}

void run_matmul_integer(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  const MatMulPlan plan = plan_matmul(a.shape, b.shape);
  const std::vector<int32_t> left = centered_int8(a, c.optional_input(2), 1, "A");
  const std::vector<int32_t> right = centered_int8(b, c.optional_input(3), 0, "B");
  Tensor output = make_tensor(onnx::TensorProto::INT32, plan.output_shape);
  run_matmul_plan<int32_t>(plan, left.data(), right.data(), output.values<int32_t>().data(), c.pool());
  c.set_output(0, std::move(output));
}

}  // namespace

void register_matmul_ops(OperatorTable& table) {
  table.add(make_spec("MatMul", 1, run_matmul));
  // Gemm before 7 broadcasts C through a 'broadcast' attribute, which is not supported.
  table.add(make_spec("Gemm", 7, run_gemm, {"alpha", "beta", "transA", "transB"}));
  table.add(make_spec("MatMulInteger", 10, run_matmul_integer));
}

}  // namespace onnxquant::eval
