// Batched matrix products with numpy broadcasting, shared by MatMul and the quantized products.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/gemm.hpp"
#include "eval/thread_pool.hpp"

namespace onnxquant::eval {

// The mapping of MatMul of A [..., M, K] and B [..., K, N] onto two-dimensional products. Rank 1
// operands are promoted to a matrix and the promoted dimension is dropped from the output.
struct MatMulPlan {
  std::vector<int64_t> output_shape;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  // Element offsets of each product's A, B and C matrices.
  std::vector<int64_t> a_offsets;
  std::vector<int64_t> b_offsets;
};

// Throws ModelError when the inner dimensions differ or the batch dimensions do not broadcast.
MatMulPlan plan_matmul(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape);

// Runs every product of the plan: C = A * B, with C packed as plan.output_shape.
template <typename T>
void run_matmul_plan(const MatMulPlan& plan, const T* a, const T* b, T* c, ThreadPool& pool) {
  const GemmShape shape = packed_gemm_shape(plan.m, plan.n, plan.k);
  const int64_t batches = static_cast<int64_t>(plan.a_offsets.size());
  const int64_t c_stride = plan.m * plan.n;
  auto one = [&](int64_t i) {
    gemm<T>(shape, T(1), a + plan.a_offsets[static_cast<size_t>(i)], b + plan.b_offsets[static_cast<size_t>(i)], T(0),
            c + i * c_stride, pool);
  };
  // Many small products (attention heads) run in parallel, each on one thread; large ones split.
  if (batches >= pool.threads() && plan.m * plan.n * plan.k < (int64_t{1} << 20)) {
    pool.parallel_for(batches, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batches; ++i) one(i);
  }
}

}  // namespace onnxquant::eval
