// A float32 matrix product with AVX2 and FMA instructions, chosen at run time on CPUs that have
// them. Eigen, as Debian builds it for the x86-64 baseline, uses SSE2 only.
#pragma once

#include <cstdint>

#include "eval/gemm.hpp"

namespace onnxquant::eval {

// True when the CPU supports AVX2 and FMA.
bool avx2_gemm_available();

// The block [row_begin, row_end) x [column_begin, column_end) of C = alpha * op(A) * op(B) + beta * C,
// with the conventions of gemm(). Call only when avx2_gemm_available().
void sgemm_avx2(const GemmShape& shape, float alpha, const float* a, const float* b, float beta, float* c,
                int64_t row_begin, int64_t row_end, int64_t column_begin, int64_t column_end);

}  // namespace onnxquant::eval
