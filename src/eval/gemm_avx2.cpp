#include "eval/gemm_avx2.hpp"

#include <immintrin.h>

#include <algorithm>
#include <vector>

namespace onnxquant::eval {
namespace {

// Register tile of C: 6 rows of 16 columns (12 accumulators of 8 floats). K is split into blocks
// so that the slice of B that a column panel reads stays in the L1 and L2 caches.
constexpr int64_t kTileRows = 6;
constexpr int64_t kTileColumns = 16;
constexpr int64_t kDepthBlock = 256;

// Element access to op(A) [M, K] and op(B) [K, N] as they are stored.
struct Operands {
  const GemmShape& s;
  const float* a;
  const float* b;
  float left(int64_t i, int64_t k) const { return s.trans_a ? a[k * s.lda + i] : a[i * s.lda + k]; }
  float right(int64_t k, int64_t j) const { return s.trans_b ? b[j * s.ldb + k] : b[k * s.ldb + j]; }
};

// A 6-row slice of op(A) over a depth block: element (r, k) is at data[r * row_stride + k * depth_stride].
struct LeftPanel {
  const float* data;
  int64_t row_stride;
  int64_t depth_stride;
};

// A 16-column slice of op(B) over a depth block: row k is 16 contiguous floats at data + k * depth_stride.
struct RightPanel {
  const float* data;
  int64_t depth_stride;
};

// tile[6][16] = sum over k of A(r, k) * B(k, j).
__attribute__((target("avx2,fma"))) void multiply_tile(int64_t depth, LeftPanel left, RightPanel right, float* tile) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float* a0 = left.data;
  const float* a1 = a0 + left.row_stride;
  const float* a2 = a1 + left.row_stride;
  const float* a3 = a2 + left.row_stride;
  const float* a4 = a3 + left.row_stride;
  const float* a5 = a4 + left.row_stride;
  const float* b = right.data;
  for (int64_t k = 0; k < depth; ++k) {
    const int64_t offset = k * left.depth_stride;
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 x = _mm256_broadcast_ss(a0 + offset);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a1 + offset);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a2 + offset);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a3 + offset);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a4 + offset);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a5 + offset);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
    b += right.depth_stride;
  }
  _mm256_storeu_ps(tile + 0, c00);
  _mm256_storeu_ps(tile + 8, c01);
  _mm256_storeu_ps(tile + 16, c10);
  _mm256_storeu_ps(tile + 24, c11);
  _mm256_storeu_ps(tile + 32, c20);
  _mm256_storeu_ps(tile + 40, c21);
  _mm256_storeu_ps(tile + 48, c30);
  _mm256_storeu_ps(tile + 56, c31);
  _mm256_storeu_ps(tile + 64, c40);
  _mm256_storeu_ps(tile + 72, c41);
  _mm256_storeu_ps(tile + 80, c50);
  _mm256_storeu_ps(tile + 88, c51);
}

// The B panel of columns [column, column + width) over depth [k0, k0 + depth): read in place when
// B is row-major and the panel is full, else copied into `buffer` with zeros past `width`.
RightPanel right_panel(const Operands& op, int64_t k0, int64_t depth, int64_t column, int64_t width,
                       std::vector<float>& buffer) {
  if (!op.s.trans_b && width == kTileColumns) return {op.b + k0 * op.s.ldb + column, op.s.ldb};
  buffer.resize(static_cast<size_t>(depth * kTileColumns));
  for (int64_t k = 0; k < depth; ++k) {
    for (int64_t j = 0; j < kTileColumns; ++j) {
      buffer[static_cast<size_t>(k * kTileColumns + j)] = j < width ? op.right(k0 + k, column + j) : 0.0f;
    }
  }
  return {buffer.data(), kTileColumns};
}

// The A panel of rows [row, row + height) over depth [k0, k0 + depth): read in place when it has
// all 6 rows, else copied into `buffer` with zero rows past `height`.
LeftPanel left_panel(const Operands& op, int64_t row, int64_t height, int64_t k0, int64_t depth,
                     std::vector<float>& buffer) {
  if (height == kTileRows) {
    if (op.s.trans_a) return {op.a + k0 * op.s.lda + row, 1, op.s.lda};
    return {op.a + row * op.s.lda + k0, op.s.lda, 1};
  }
  buffer.resize(static_cast<size_t>(depth * kTileRows));
  for (int64_t k = 0; k < depth; ++k) {
    for (int64_t r = 0; r < kTileRows; ++r) {
      buffer[static_cast<size_t>(k * kTileRows + r)] = r < height ? op.left(row + r, k0 + k) : 0.0f;
    }
  }
  return {buffer.data(), 1, kTileRows};
}

// Adds alpha * tile into C. The first depth block also applies beta, and reads no C when beta is 0,
// so that C may start uninitialized.
void store_tile(const float* tile, int64_t rows, int64_t columns, float alpha, float beta, bool first, float* c,
                int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r) {
    float* line = c + r * ldc;
    const float* values = tile + r * kTileColumns;
    for (int64_t j = 0; j < columns; ++j) {
      const float product = alpha * values[j];
      if (!first) {
        line[j] += product;
      } else if (beta == 0.0f) {
        line[j] = product;
      } else {
        line[j] = beta * line[j] + product;
      }
    }
  }
}

}  // namespace

bool avx2_gemm_available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
}

void sgemm_avx2(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
                int64_t row_begin, int64_t row_end, int64_t column_begin, int64_t column_end) {
  const Operands op{s, a, b};
  std::vector<float> right_buffer;
  std::vector<float> left_buffer;
  alignas(32) float tile[kTileRows * kTileColumns];
  for (int64_t k0 = 0; k0 < s.k; k0 += kDepthBlock) {
    const int64_t depth = std::min(kDepthBlock, s.k - k0);
    for (int64_t column = column_begin; column < column_end; column += kTileColumns) {
      const int64_t width = std::min(kTileColumns, column_end - column);
      const RightPanel right = right_panel(op, k0, depth, column, width, right_buffer);
      for (int64_t row = row_begin; row < row_end; row += kTileRows) {
        const int64_t height = std::min(kTileRows, row_end - row);
        multiply_tile(depth, left_panel(op, row, height, k0, depth, left_buffer), right, tile);
        store_tile(tile, height, width, alpha, beta, k0 == 0, c + row * s.ldc + column, s.ldc);
      }
    }
  }
}

}  // namespace onnxquant::eval
