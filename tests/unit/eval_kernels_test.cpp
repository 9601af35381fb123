// The evaluator's numeric building blocks against plain reference loops: matrix products (AVX2 and
// Eigen paths), vectorized exp and sigmoid, the worker pool and tensor conversion.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "eval/gemm.hpp"
#include "eval/gemm_avx2.hpp"
#include "eval/tensor.hpp"
#include "eval/thread_pool.hpp"
#include "eval/vector_math.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Relative error of float32 products against a double reference, K up to a few hundred.
constexpr double kProductTolerance = 1e-5;
// Relative error bound of the vectorized exp (see vector_math.hpp).
constexpr double kExpTolerance = 3e-7;

struct ProductCase {
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;

  std::string describe() const {
    return "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
           " trans_a=" + std::to_string(trans_a) + " trans_b=" + std::to_string(trans_b) +
           " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta);
  }
};

std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (auto& value : values) value = distribution(generator);
  return values;
}

// C = alpha * op(A) op(B) + beta * C in double with plain loops.
std::vector<double> reference_product(const ProductCase& p, const GemmShape& s, const std::vector<float>& a,
                                      const std::vector<float>& b, const std::vector<float>& c) {
  std::vector<double> result(c.begin(), c.end());
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < p.k; ++k) {
        const double left = p.trans_a ? a[static_cast<size_t>(k * s.lda + i)] : a[static_cast<size_t>(i * s.lda + k)];
        const double right = p.trans_b ? b[static_cast<size_t>(j * s.ldb + k)] : b[static_cast<size_t>(k * s.ldb + j)];
        sum += left * right;
      }
      double& out = result[static_cast<size_t>(i * s.ldc + j)];
      out = p.alpha * sum + (p.beta == 0.0f ? 0.0 : p.beta * out);
    }
  }
  return result;
}

// Odd sizes on purpose: partial 6x16 tiles, K not a multiple of the 256 depth block, one-row and
// one-column products, and K = 0.
const std::vector<ProductCase> kProductCases = {
    {1, 1, 1, false, false, 1.0f, 0.0f},    {7, 17, 5, false, false, 1.0f, 0.0f},
    {6, 16, 256, false, false, 1.0f, 0.0f}, {13, 35, 300, false, true, 1.0f, 0.0f},
    {64, 384, 128, false, false, 1.0f, 0.0f}, {1, 512, 344, false, true, 1.0f, 0.0f},
    {50, 1, 70, true, false, 0.5f, 0.0f},   {19, 23, 513, true, true, 2.0f, 0.5f},
    {33, 40, 9, false, false, 1.0f, 1.0f},  {5, 7, 0, false, false, 1.0f, 0.0f},
    {5, 7, 0, false, false, 1.0f, 2.0f},
};

// Checks a product function on every case, with C padded to a wider row stride than N.
template <typename Product>
void check_products(Product product) {
  uint32_t seed = 1;
  for (const ProductCase& p : kProductCases) {
    GemmShape s = packed_gemm_shape(p.m, p.n, p.k, p.trans_a, p.trans_b);
    s.ldc = p.n + 3;
    const std::vector<float> a = random_floats(static_cast<size_t>(std::max<int64_t>(1, p.m * p.k)), seed++);
    const std::vector<float> b = random_floats(static_cast<size_t>(std::max<int64_t>(1, p.k * p.n)), seed++);
    std::vector<float> c = random_floats(static_cast<size_t>(p.m * s.ldc), seed++);
    const std::vector<double> expected = reference_product(p, s, a, b, c);
    product(s, p.alpha, a.data(), b.data(), p.beta, c.data());
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        const size_t index = static_cast<size_t>(i * s.ldc + j);
        ASSERT_NEAR(c[index], expected[index], kProductTolerance * (1.0 + std::abs(expected[index])))
            << p.describe() << " at (" << i << ", " << j << ")";
      }
    }
  }
}

TEST(Gemm, FloatMatchesReference) {
  ThreadPool pool(2);
  check_products([&](const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
    gemm<float>(s, alpha, a, b, beta, c, pool);
  });
}

TEST(Gemm, Avx2BlocksMatchReference) {
  if (!avx2_gemm_available()) GTEST_SKIP() << "the CPU has no AVX2 and FMA";
  check_products([&](const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
    if (s.k == 0) {
      // The AVX2 kernel is not called for K = 0 (gemm() handles it); nothing to check here.
      for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) c[i * s.ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * s.ldc + j];
      }
      return;
    }
    // Two column blocks and two row blocks, as the pool's ranges split them.
    const int64_t middle_row = s.m / 2;
    const int64_t middle_column = s.n / 2;
    sgemm_avx2(s, alpha, a, b, beta, c, 0, middle_row, 0, middle_column);
    sgemm_avx2(s, alpha, a, b, beta, c, 0, middle_row, middle_column, s.n);
    sgemm_avx2(s, alpha, a, b, beta, c, middle_row, s.m, 0, s.n);
  });
}

TEST(Gemm, DoubleAndIntegerMatchReference) {
  ThreadPool pool(2);
  const GemmShape s = packed_gemm_shape(3, 4, 5);
  std::vector<double> a(15), b(20), c(12, -1.0);
  std::vector<int64_t> ia(15), ib(20), ic(12, 0);
  for (size_t i = 0; i < a.size(); ++i) a[i] = ia[i] = static_cast<int64_t>(i) - 7;
  for (size_t i = 0; i < b.size(); ++i) b[i] = ib[i] = static_cast<int64_t>(i % 6) - 2;
  gemm<double>(s, 1.0, a.data(), b.data(), 0.0, c.data(), pool);
  gemm<int64_t>(s, 1, ia.data(), ib.data(), 0, ic.data(), pool);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      int64_t sum = 0;
      for (int64_t k = 0; k < 5; ++k) sum += ia[static_cast<size_t>(i * 5 + k)] * ib[static_cast<size_t>(k * 4 + j)];
      EXPECT_EQ(ic[static_cast<size_t>(i * 4 + j)], sum) << i << ", " << j;
      EXPECT_EQ(c[static_cast<size_t>(i * 4 + j)], static_cast<double>(sum)) << i << ", " << j;
    }
  }
}

TEST(VectorMath, ExpMatchesStdExp) {
  std::vector<float> inputs;
  for (float x = -100.0f; x <= 100.0f; x += 0.0137f) inputs.push_back(x);
  inputs.insert(inputs.end(), {0.0f, -0.0f, 1e-8f, -1e-8f, 88.0f, -87.0f, INFINITY, -INFINITY});
  std::vector<float> outputs(inputs.size());
  exp_floats(inputs.data(), outputs.data(), static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const double expected = std::exp(static_cast<double>(inputs[i]));
    if (expected > std::numeric_limits<float>::max()) {
      EXPECT_TRUE(std::isinf(outputs[i])) << "exp(" << inputs[i] << ")";
    } else if (expected < 1e-37) {
      EXPECT_LE(outputs[i], 1e-37) << "exp(" << inputs[i] << ")";
    } else {
      EXPECT_NEAR(outputs[i], expected, kExpTolerance * expected) << "exp(" << inputs[i] << ")";
    }
  }
}

TEST(VectorMath, ExpKeepsNan) {
  std::vector<float> values(16, NAN);
  exp_floats(values.data(), values.data(), 16);
  for (float value : values) EXPECT_TRUE(std::isnan(value));
}

TEST(VectorMath, SigmoidMatchesFormula) {
  std::vector<float> inputs;
  for (float x = -120.0f; x <= 120.0f; x += 0.071f) inputs.push_back(x);
  std::vector<float> outputs(inputs.size());
  sigmoid_floats(inputs.data(), outputs.data(), static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const double expected = 1.0 / (1.0 + std::exp(-static_cast<double>(inputs[i])));
    EXPECT_NEAR(outputs[i], expected, 1e-6 * expected + 1e-38) << "sigmoid(" << inputs[i] << ")";
  }
}

TEST(ThreadPool, RangesCoverEveryIndexOnce) {
  ThreadPool pool(3);
  for (int64_t count : {1, 2, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(count));
    pool.parallel_for(count, 10, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << "count " << count << " index " << i;
  }
}

TEST(ThreadPool, ExceptionReachesCaller) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(1000, 1,
                                 [](int64_t begin, int64_t) {
                                   if (begin > 0) throw std::runtime_error("range failed");
                                 }),
               std::runtime_error);
  // The pool stays usable after a failed loop.
  std::atomic<int64_t> total{0};
  pool.parallel_for(100, 1, [&](int64_t begin, int64_t end) { total += end - begin; });
  EXPECT_EQ(total.load(), 100);
}

TEST(ThreadPool, NestedLoopRunsInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.parallel_for(8, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      pool.parallel_for(10, 1, [&](int64_t inner_begin, int64_t inner_end) { total += inner_end - inner_begin; });
    }
  });
  EXPECT_EQ(total.load(), 80);
}

TEST(TensorProto, Int4RoundTrip) {
  onnx::TensorProto proto;
  proto.set_name("w");
  proto.set_data_type(kInt4);
  proto.add_dims(3);
  // Elements -8, 7, -1 packed low nibble first: 0x78, then 0x0f.
  proto.set_raw_data(std::string("\x78\x0f", 2));
  const Tensor tensor = tensor_from_proto(proto);
  ASSERT_EQ(tensor.values<int8_t>().size(), 3u);
  EXPECT_EQ(tensor.values<int8_t>()[0], -8);
  EXPECT_EQ(tensor.values<int8_t>()[1], 7);
  EXPECT_EQ(tensor.values<int8_t>()[2], -1);
  EXPECT_EQ(tensor_to_proto(tensor, "w").raw_data(), proto.raw_data());
}

TEST(TensorProto, TypedFieldsRead) {
  onnx::TensorProto proto;
  proto.set_data_type(onnx::TensorProto::BOOL);
  proto.add_dims(3);
  for (int value : {0, 5, 1}) proto.add_int32_data(value);
  const Tensor tensor = tensor_from_proto(proto);
  EXPECT_EQ(tensor.values<uint8_t>()[0], 0);
  EXPECT_EQ(tensor.values<uint8_t>()[1], 1);  // any non-zero value is true
  EXPECT_EQ(tensor.values<uint8_t>()[2], 1);
}

TEST(TensorProto, SizeMismatchRejected) {
  onnx::TensorProto proto;
  proto.set_name("short");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.add_dims(4);
  proto.set_raw_data(std::string(12, '\0'));
  try {
    tensor_from_proto(proto);
    FAIL() << "a 3-element tensor of shape [4] was accepted";
  } catch (const ModelError& error) {
    EXPECT_NE(std::string(error.what()).find("'short' (float32 [4]) has 3 values but its shape needs 4"), std::string::npos)
        << error.what();
  }
}

TEST(TensorProto, ExternalDataNotLoadedRejected) {
  onnx::TensorProto proto;
  proto.set_name("big");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.set_data_location(onnx::TensorProto::EXTERNAL);
  EXPECT_THROW(tensor_from_proto(proto), ModelError);
}

}  // namespace
}  // namespace onnxquant::eval
