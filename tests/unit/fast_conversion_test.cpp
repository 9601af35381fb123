// The fast float16/bfloat16 conversions, error metrics and dequantization against their scalar
// references, and the thread partitioning they share.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_test_data.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/float16.hpp"
#include "kernels/parallel.hpp"

namespace onnxquant::kernels {
namespace {

using testing::bits_of;
using testing::Distribution;
using testing::expect_same_metrics;
using testing::for_each_level_and_thread_count;
using testing::random_values;

constexpr uint32_t kSeed = 4242;
// Sizes around the vector width and the chunk sizes of the kernels.
const std::vector<size_t> kOddSizes = {0, 1, 7, 8, 9, 15, 17, 1000, 65536 + 3};
// The fast error sums add in another order than the reference's; over these tensors the rounding
// differences stay far below this relative bound.
constexpr double kMetricTolerance = 1.0e-12;

// Every 257th float bit pattern (about 16.7 million values, all exponents and both signs) and
// the special values.
std::vector<float> float_sweep() {
  std::vector<float> values;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 257) values.push_back(std::bit_cast<float>(uint32_t(bits)));
  for (float special : {0.0f, -0.0f, 65504.0f, 65520.0f, -65520.0f, std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                        std::numeric_limits<float>::signaling_NaN(), 3.3895314e38f, 3.4e38f}) {
    values.push_back(special);
  }
  return values;
}

std::vector<uint16_t> every_16_bit_pattern() {
  std::vector<uint16_t> patterns(65536);
  for (uint32_t bits = 0; bits < patterns.size(); ++bits) patterns[bits] = static_cast<uint16_t>(bits);
  return patterns;
}

TEST(FastFloat16, EncodeSweepMatchesScalar) {
  const std::vector<float> values = float_sweep();
  std::vector<uint16_t> expected(values.size());
  std::vector<uint16_t> expected_saturated(values.size());
  uint64_t expected_count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    bool saturated = false;
    expected[i] = float_to_half(values[i]);
    expected_saturated[i] = float_to_half_saturating(values[i], saturated);
    expected_count += saturated ? 1 : 0;
  }
  ASSERT_GT(expected_count, 0u);
  for_each_level_and_thread_count([&](int threads) {
    std::vector<uint16_t> converted(values.size());
    convert_float_to_half(values, converted, threads);
    EXPECT_EQ(converted, expected);
    EXPECT_EQ(convert_float_to_half_saturating(values, converted, threads), expected_count);
    EXPECT_EQ(converted, expected_saturated);
  });
}

TEST(FastFloat16, DecodeEveryPatternMatchesScalar) {
  const std::vector<uint16_t> patterns = every_16_bit_pattern();
  std::vector<float> expected(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) expected[i] = half_to_float(patterns[i]);
  for_each_level_and_thread_count([&](int threads) {
    std::vector<float> decoded(patterns.size());
    convert_half_to_float(patterns, decoded, threads);
    EXPECT_EQ(bits_of(decoded), bits_of(expected));
  });
}

TEST(FastBfloat16, EncodeSweepMatchesScalar) {
  const std::vector<float> values = float_sweep();
  std::vector<uint16_t> expected(values.size());
  std::vector<uint16_t> expected_saturated(values.size());
  uint64_t expected_count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    bool saturated = false;
    expected[i] = float_to_bfloat16(values[i]);
    expected_saturated[i] = float_to_bfloat16_saturating(values[i], saturated);
    expected_count += saturated ? 1 : 0;
  }
  ASSERT_GT(expected_count, 0u);
  for_each_level_and_thread_count([&](int threads) {
    std::vector<uint16_t> converted(values.size());
    convert_float_to_bfloat16(values, converted, threads);
    EXPECT_EQ(converted, expected);
    EXPECT_EQ(convert_float_to_bfloat16_saturating(values, converted, threads), expected_count);
    EXPECT_EQ(converted, expected_saturated);
  });
}

TEST(FastBfloat16, DecodeEveryPatternMatchesScalar) {
  const std::vector<uint16_t> patterns = every_16_bit_pattern();
  std::vector<float> expected(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) expected[i] = bfloat16_to_float(patterns[i]);
  for_each_level_and_thread_count([&](int threads) {
    std::vector<float> decoded(patterns.size());
    convert_bfloat16_to_float(patterns, decoded, threads);
    EXPECT_EQ(bits_of(decoded), bits_of(expected));
  });
}

TEST(FastFloat16, OddSizesMatchScalar) {
  for (size_t count : kOddSizes) {
    SCOPED_TRACE("count " + std::to_string(count));
    const auto values = random_values(count, Distribution::kSpecial, kSeed);
    std::vector<uint16_t> expected(count);
    for (size_t i = 0; i < count; ++i) expected[i] = float_to_half(values[i]);
    for_each_level_and_thread_count([&](int threads) {
      std::vector<uint16_t> converted(count);
      convert_float_to_half(values, converted, threads);
      EXPECT_EQ(converted, expected);
    });
  }
}

void expect_metric_near(double fast, double reference, const char* name) {
  if (std::isnan(reference)) {
    EXPECT_TRUE(std::isnan(fast)) << name << " " << fast;
  } else if (std::isinf(reference) || reference == 0.0) {
    EXPECT_EQ(fast, reference) << name;
  } else {
    EXPECT_NEAR(fast, reference, std::fabs(reference) * kMetricTolerance) << name;
  }
}

// A reconstruction with an error of about 1% of each value.
std::vector<float> perturbed(const std::vector<float>& values, uint32_t seed) {
  const auto noise = random_values(values.size(), Distribution::kNormal, seed);
  std::vector<float> result(values.size());
  for (size_t i = 0; i < values.size(); ++i) result[i] = values[i] * (1.0f + 0.01f * noise[i]);
  return result;
}

TEST(FastErrorMetrics, CloseToReferenceAndDeterministic) {
  const std::vector<size_t> sizes = {0,  1,  7, 8, 9, static_cast<size_t>(kErrorChunk) - 1,
                                     static_cast<size_t>(kErrorChunk) + 5, 3 * static_cast<size_t>(kErrorChunk) + 17};
  for (size_t count : sizes) {
    for (Distribution distribution : {Distribution::kNormal, Distribution::kHeavyTail}) {
      SCOPED_TRACE("count " + std::to_string(count) + ", " + testing::to_string(distribution));
      const auto original = random_values(count, distribution, kSeed + static_cast<uint32_t>(count));
      const auto reconstructed = perturbed(original, kSeed);
      const ErrorMetrics expected = reference::measure_error(original, reconstructed);
      const ErrorMetrics first = measure_error(original, reconstructed, 1);
      expect_metric_near(first.mse, expected.mse, "mse");
      EXPECT_EQ(first.max_abs_error, expected.max_abs_error);
      expect_metric_near(first.sqnr_db, expected.sqnr_db, "sqnr");
      expect_metric_near(first.cosine_similarity, expected.cosine_similarity, "cosine");
      // Every instruction set and thread count gives the bits of the first run.
      for_each_level_and_thread_count([&](int threads) {
        expect_same_metrics(measure_error(original, reconstructed, threads), first);
      });
    }
  }
}

TEST(FastErrorMetrics, NonFiniteValuesAsReference) {
  std::vector<float> original = random_values(1000, Distribution::kNormal, kSeed);
  std::vector<float> with_infinity = original;
  with_infinity[123] = std::numeric_limits<float>::infinity();
  std::vector<float> with_nan = original;
  with_nan[777] = std::numeric_limits<float>::quiet_NaN();
  for (const std::vector<float>* reconstructed : {&with_infinity, &with_nan}) {
    const ErrorMetrics expected = reference::measure_error(original, *reconstructed);
    for_each_level_and_thread_count([&](int threads) {
      const ErrorMetrics metrics = measure_error(original, *reconstructed, threads);
      expect_metric_near(metrics.mse, expected.mse, "mse");
      EXPECT_EQ(metrics.max_abs_error, expected.max_abs_error);
      expect_metric_near(metrics.sqnr_db, expected.sqnr_db, "sqnr");
      expect_metric_near(metrics.cosine_similarity, expected.cosine_similarity, "cosine");
    });
  }
}

struct DequantizeCase {
  CodeType type;
  std::vector<int64_t> dims;
  int64_t axis;
  int64_t block_size;
  bool per_tensor;
  bool zero_points;
  const char* name;
};

int64_t bytes_for(CodeType type, int64_t count) {
  switch (type) {
    case CodeType::kInt4:
    case CodeType::kUint4: return (count + 1) / 2;
    case CodeType::kInt32: return count * 4;
    default: return count;
  }
}

// The scale count of a case: 1, dims[axis], or dims with dims[axis] cut into blocks.
int64_t scale_count(const DequantizeCase& c) {
  if (c.per_tensor) return 1;
  if (c.block_size == 0) return c.dims[c.axis];
  int64_t count = 1;
  for (size_t i = 0; i < c.dims.size(); ++i) {
    count *= static_cast<int64_t>(i) == c.axis ? (c.dims[i] + c.block_size - 1) / c.block_size : c.dims[i];
  }
  return count;
}

TEST(FastDequantizeCodes, MatchesReference) {
  const std::vector<DequantizeCase> cases = {
      {CodeType::kInt8, {37, 11}, 0, 0, true, true, "int8 per-tensor"},
      {CodeType::kUint8, {37, 11}, 1, 0, false, true, "uint8 per-axis, inner 1"},
      {CodeType::kInt8, {5, 9, 7}, 1, 0, false, false, "int8 per-axis, inner 7"},
      {CodeType::kInt4, {33, 10}, 0, 16, false, false, "int4 blocked along axis 0"},
      {CodeType::kUint4, {10, 33}, 1, 16, false, true, "uint4 blocked along the last axis"},
      {CodeType::kUint4, {3, 35, 4}, 1, 8, false, true, "uint4 blocked, inner 4"},
      {CodeType::kInt32, {9, 300}, 1, 0, false, false, "int32 per-axis"},
      {CodeType::kInt8, {300, 301}, 1, 0, false, true, "int8 per-axis beyond one task"},
  };
  for (const DequantizeCase& c : cases) {
    SCOPED_TRACE(c.name);
    int64_t count = 1;
    for (int64_t dim : c.dims) count *= dim;
    const auto noise = random_values(static_cast<size_t>(bytes_for(c.type, count)), Distribution::kNormal, kSeed);
    std::vector<uint8_t> data(noise.size());
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(std::bit_cast<uint32_t>(noise[i]));
    const int64_t scales_size = scale_count(c);
    std::vector<float> scales = random_values(static_cast<size_t>(scales_size), Distribution::kNormal, kSeed + 1);
    std::vector<uint8_t> zero_points;
    if (c.zero_points) {
      zero_points.resize(static_cast<size_t>(bytes_for(c.type, scales_size)));
      for (size_t i = 0; i < zero_points.size(); ++i) zero_points[i] = static_cast<uint8_t>(i * 37);
    }
    const std::vector<float> expected =
        reference::dequantize_codes(data, c.type, count, scales, zero_points, c.type, c.dims, c.axis, c.block_size);
    for_each_level_and_thread_count([&](int threads) {
      const std::vector<float> values = dequantize_codes(data, c.type, count, scales, zero_points, c.type, c.dims,
                                                         c.axis, c.block_size, threads);
      EXPECT_EQ(bits_of(values), bits_of(expected));
    });
  }
}

TEST(ParallelFor, RunsEveryTaskOnce) {
  for (int threads : testing::kThreadCounts) {
    std::vector<std::atomic<int>> runs(1000);
    parallel_for(static_cast<int64_t>(runs.size()), threads, [&](int64_t task) { ++runs[task]; });
    for (size_t task = 0; task < runs.size(); ++task) EXPECT_EQ(runs[task].load(), 1) << "task " << task;
  }
}

TEST(ParallelFor, RethrowsTaskException) {
  for (int threads : testing::kThreadCounts) {
    EXPECT_THROW(parallel_for(100, threads,
                              [](int64_t task) {
                                if (task == 42) throw std::runtime_error("task 42 failed");
                              }),
                 std::runtime_error);
  }
}

TEST(ParallelFor, ResolvesThreadCount) {
  EXPECT_EQ(resolve_thread_count(3), 3);
  EXPECT_GE(resolve_thread_count(0), 1);
}

TEST(SimdLevel, ScopedLevelForcesPortable) {
  const SimdLevel detected = simd_level();
  {
    const ScopedSimdLevel forced(SimdLevel::kPortable);
    EXPECT_EQ(simd_level(), SimdLevel::kPortable);
  }
  EXPECT_EQ(simd_level(), detected);
}

}  // namespace
}  // namespace onnxquant::kernels
