// Matrix products for the evaluator's kernels, through Eigen, split over the threads of a pool.
#pragma once

#include <cstdint>

#include "eval/thread_pool.hpp"

namespace onnxquant::eval {

// C = alpha * op(A) * op(B) + beta * C for row-major matrices, where op(A) is [M, K] and op(B) is
// [K, N]. With trans_a, A is stored as [K, M]; with trans_b, B is stored as [N, K]. lda, ldb and
// ldc are the row strides of the stored matrices in elements. With beta 0, C is only written.
struct GemmShape {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool trans_a = false;
  bool trans_b = false;
  int64_t lda = 0;
  int64_t ldb = 0;
  int64_t ldc = 0;
};

// Implemented for float, double, int32_t, int64_t, uint32_t and uint64_t. Integer products wrap
// like the element type; floating-point products accumulate in the element type.
template <typename T>
void gemm(const GemmShape& shape, T alpha, const T* a, const T* b, T beta, T* c, ThreadPool& pool);

// A row-major [rows, columns] product shape with packed rows: lda = K, ldb = N, ldc = N.
GemmShape packed_gemm_shape(int64_t m, int64_t n, int64_t k, bool trans_a = false, bool trans_b = false);

}  // namespace onnxquant::eval
