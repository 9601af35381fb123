#include "eval/gemm.hpp"

#include "eval/gemm_avx2.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>

namespace onnxquant::eval {
namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstView = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using View = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Below this many multiply-adds a product runs on one thread.
constexpr int64_t kParallelWork = 1 << 17;
// Column ranges are multiples of this, so that threads do not share cache lines of C.
constexpr int64_t kColumnGrain = 16;

// C[rows, columns] = alpha * op(A)[rows, :] * op(B)[:, columns] + beta * C for one block of C.
template <typename T>
void gemm_block(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, int64_t row_begin, int64_t row_end,
                int64_t column_begin, int64_t column_end) {
  const int64_t rows = row_end - row_begin;
  const int64_t columns = column_end - column_begin;
  if (rows <= 0 || columns <= 0) return;
  View<T> out(c + row_begin * s.ldc + column_begin, rows, columns, Eigen::OuterStride<>(s.ldc));
  if (s.k == 0) {
    if (beta == T(0)) {
      out.setZero();
    } else {
      out *= beta;
    }
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (avx2_gemm_available()) {
      sgemm_avx2(s, alpha, a, b, beta, c, row_begin, row_end, column_begin, column_end);
      return;
    }
  }
  auto product = [&](const auto& left, const auto& right) {
    if (beta == T(0)) {
      out.noalias() = alpha * (left * right);
    } else {
      out = beta * out;
      out.noalias() += alpha * (left * right);
    }
  };
  auto with_left = [&](const auto& right) {
    if (s.trans_a) {
      ConstView<T> stored(a + row_begin, s.k, rows, Eigen::OuterStride<>(s.lda));
      product(stored.transpose(), right);
    } else {
      ConstView<T> stored(a + row_begin * s.lda, rows, s.k, Eigen::OuterStride<>(s.lda));
      product(stored, right);
    }
  };
  if (s.trans_b) {
    ConstView<T> stored(b + column_begin * s.ldb, columns, s.k, Eigen::OuterStride<>(s.ldb));
    with_left(stored.transpose());
  } else {
    ConstView<T> stored(b + column_begin, s.k, columns, Eigen::OuterStride<>(s.ldb));
    with_left(stored);
  }
}

}  // namespace

GemmShape packed_gemm_shape(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  GemmShape shape;
  shape.m = m;
  shape.n = n;
  shape.k = k;
  shape.trans_a = trans_a;
  shape.trans_b = trans_b;
  shape.lda = trans_a ? m : k;
  shape.ldb = trans_b ? k : n;
  shape.ldc = n;
  return shape;
}

template <typename T>
void gemm(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, ThreadPool& pool) {
  const int64_t work = s.m * s.n * std::max<int64_t>(s.k, 1);
  const int64_t threads = pool.threads();
  if (work < kParallelWork || threads == 1) {
    gemm_block(s, alpha, a, b, beta, c, 0, s.m, 0, s.n);
    return;
  }
  // Split the rows of C when there are enough of them, else its columns (one-row products).
  if (s.m >= 4 * threads) {
    pool.parallel_for(s.m, (s.m + threads - 1) / threads, [&](int64_t begin, int64_t end) {
      gemm_block(s, alpha, a, b, beta, c, begin, end, 0, s.n);
    });
    return;
  }
  const int64_t blocks = (s.n + kColumnGrain - 1) / kColumnGrain;
  pool.parallel_for(blocks, (blocks + threads - 1) / threads, [&](int64_t begin, int64_t end) {
    gemm_block(s, alpha, a, b, beta, c, 0, s.m, begin * kColumnGrain, std::min(s.n, end * kColumnGrain));
  });
}

template void gemm<float>(const GemmShape&, float, const float*, const float*, float, float*, ThreadPool&);
template void gemm<double>(const GemmShape&, double, const double*, const double*, double, double*, ThreadPool&);
template void gemm<int32_t>(const GemmShape&, int32_t, const int32_t*, const int32_t*, int32_t, int32_t*, ThreadPool&);
template void gemm<int64_t>(const GemmShape&, int64_t, const int64_t*, const int64_t*, int64_t, int64_t*, ThreadPool&);
template void gemm<uint32_t>(const GemmShape&, uint32_t, const uint32_t*, const uint32_t*, uint32_t, uint32_t*,
                             ThreadPool&);
template void gemm<uint64_t>(const GemmShape&, uint64_t, const uint64_t*, const uint64_t*, uint64_t, uint64_t*,
                             ThreadPool&);

}  // namespace onnxquant::eval
