// The kernels that measure an error run by run instead of on whole-tensor copies: the float16 and
// bfloat16 narrowing conversion and the errors of block and linear quantization. Each must give the
// bits of the whole-tensor composition it replaces.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernel_test_data.hpp"
#include "kernels/block_quantization.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/float16.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/narrowing_conversion.hpp"

namespace onnxquant::kernels {
namespace {

using testing::Distribution;
using testing::expect_same_metrics;
using testing::for_each_level_and_thread_count;
using testing::random_values;

constexpr uint32_t kSeed = 913;

// What the narrowing conversion replaces: whole-tensor conversion, the round trip, measure_error
// over the finite values and a scalar maximum of the relative error.
struct WholeTensorResult {
  std::vector<uint16_t> converted;
  ErrorMetrics metrics;
  double max_relative_error = 0.0;
  uint64_t saturated = 0;
};

WholeTensorResult convert_whole(const std::vector<float>& values, NarrowType type) {
  WholeTensorResult result;
  result.converted.resize(values.size());
  std::vector<float> restored(values.size());
  if (type == NarrowType::kFloat16) {
    result.saturated = convert_float_to_half_saturating(values, result.converted);
    convert_half_to_float(result.converted, restored);
  } else {
    result.saturated = convert_float_to_bfloat16_saturating(values, result.converted);
    convert_bfloat16_to_float(result.converted, restored);
  }
  std::vector<float> finite_values;
  std::vector<float> finite_restored;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    finite_values.push_back(values[i]);
    finite_restored.push_back(restored[i]);
    if (values[i] != 0.0f) {
      const double x = values[i];
      result.max_relative_error = std::max(result.max_relative_error, std::fabs(x - restored[i]) / std::fabs(x));
    }
  }
  result.metrics = reference::measure_error(finite_values, finite_restored);
  return result;
}

// Converts `values` in runs of `run` values.
NarrowingConversion convert_in_runs(const std::vector<float>& values, NarrowType type, size_t run, int threads,
                                    std::vector<uint16_t>& converted) {
  NarrowingConversion conversion(type, threads);
  converted.assign(values.size(), 0);
  for (size_t begin = 0; begin < values.size(); begin += run) {
    const size_t length = std::min(run, values.size() - begin);
    conversion.convert(std::span(values).subspan(begin, length), std::span(converted).subspan(begin, length));
  }
  return conversion;
}

constexpr double kRelativeTolerance = 1.0e-12;

void expect_near_relative(double actual, double expected, const char* metric) {
  SCOPED_TRACE(metric);
  if (std::isinf(expected)) {
    EXPECT_EQ(actual, expected);
    return;
  }
  EXPECT_NEAR(actual, expected, kRelativeTolerance * std::max(1.0, std::fabs(expected)));
}

TEST(NarrowingConversion, MatchesWholeTensorConversion) {
  const auto chunk = static_cast<size_t>(kErrorChunk);
  for (NarrowType type : {NarrowType::kFloat16, NarrowType::kBfloat16}) {
    for (Distribution distribution : {Distribution::kNormal, Distribution::kHeavyTail, Distribution::kSpecial}) {
      SCOPED_TRACE(std::string(type == NarrowType::kFloat16 ? "float16, " : "bfloat16, ") +
                   testing::to_string(distribution));
      const std::vector<float> values = random_values(3 * chunk + 77, distribution, kSeed);
      const WholeTensorResult expected = convert_whole(values, type);
      // One run, and runs of one and two chunks: the same sums whatever the run length.
      for (size_t run : {values.size(), chunk, 2 * chunk}) {
        for_each_level_and_thread_count([&](int threads) {
          std::vector<uint16_t> converted;
          const NarrowingConversion conversion = convert_in_runs(values, type, run, threads, converted);
          EXPECT_EQ(converted, expected.converted);
          EXPECT_EQ(conversion.saturated_values(), expected.saturated);
          EXPECT_EQ(std::bit_cast<uint64_t>(conversion.max_relative_error()),
                    std::bit_cast<uint64_t>(expected.max_relative_error));
          const ErrorMetrics metrics = conversion.metrics();
          if (distribution == Distribution::kSpecial) {
            // Non-finite values are left out chunk by chunk, so the sums group differently.
            expect_near_relative(metrics.mse, expected.metrics.mse, "mse");
            expect_near_relative(metrics.sqnr_db, expected.metrics.sqnr_db, "sqnr");
            expect_near_relative(metrics.cosine_similarity, expected.metrics.cosine_similarity, "cosine");
            EXPECT_EQ(metrics.max_abs_error, expected.metrics.max_abs_error);
          } else {
            expect_same_metrics(metrics, measure_error(values, [&] {
              std::vector<float> restored(values.size());
              if (type == NarrowType::kFloat16) {
                convert_half_to_float(expected.converted, restored);
              } else {
                convert_bfloat16_to_float(expected.converted, restored);
              }
              return restored;
            }()));
          }
        });
      }
    }
  }
}

TEST(NarrowingConversion, SaturationAndRelativeErrorOfKnownValues) {
  // 1 + 2^-11 lies halfway between two float16 values and rounds to 1 (even): relative error
  // 2^-11 / (1 + 2^-11). 1e5 saturates to 65504.
  const std::vector<float> values = {1.0f + 0x1.0p-11f, 1e5f, 0.0f, std::numeric_limits<float>::quiet_NaN(), -2.0f};
  NarrowingConversion conversion(NarrowType::kFloat16, 1);
  std::vector<uint16_t> converted(values.size());
  conversion.convert(values, converted);
  EXPECT_EQ(conversion.saturated_values(), 1u);
  EXPECT_EQ(converted[1], kHalfMaxBits);
  const double saturation_error = (1e5 - 65504.0) / 1e5;
  EXPECT_DOUBLE_EQ(conversion.max_relative_error(), saturation_error);
  // The NaN is left out of the metrics: four finite values, errors only in the first two.
  const double first_error = 0x1.0p-11;
  const double noise = first_error * first_error + (1e5 - 65504.0) * (1e5 - 65504.0);
  EXPECT_DOUBLE_EQ(conversion.metrics().mse, noise / 4.0);
}

struct BlockCase {
  int64_t k;
  int64_t n;
  int64_t block_size;
  int64_t bits;
  bool symmetric;
};

TEST(BlockwiseError, MatchesMeasureErrorOfDequantizedWeight) {
  // K not a multiple of the block size, N not a multiple of the lane count, and a weight larger
  // than several error chunks.
  const std::vector<BlockCase> cases = {
      {70, 13, 32, 4, true}, {70, 13, 32, 4, false}, {64, 9, 16, 8, true}, {96, 11, 32, 8, false},
      {512, 300, 32, 4, true}, {512, 300, 128, 4, false},
  };
  for (const BlockCase& c : cases) {
    SCOPED_TRACE("k " + std::to_string(c.k) + ", n " + std::to_string(c.n) + ", block " +
                 std::to_string(c.block_size) + ", bits " + std::to_string(c.bits) +
                 (c.symmetric ? ", symmetric" : ", asymmetric"));
    const std::vector<float> weight =
        random_values(static_cast<size_t>(c.k * c.n), Distribution::kHeavyTail, kSeed + static_cast<uint32_t>(c.k));
    const BlockQuantized quantized =
        quantize_blockwise(weight, c.k, c.n, c.block_size, c.bits, c.symmetric, ScaleType::kFloat32, false, 1);
    const ErrorMetrics expected = measure_error(weight, reference::dequantize_blockwise(quantized), 1);
    for_each_level_and_thread_count(
        [&](int threads) { expect_same_metrics(measure_blockwise_error(weight, quantized, threads), expected); });
  }
}

TEST(BlockwiseError, SummedWhileQuantizing) {
  const std::vector<BlockCase> cases = {{70, 13, 32, 4, true}, {96, 300, 32, 4, false}, {512, 600, 32, 8, true}};
  for (const BlockCase& c : cases) {
    SCOPED_TRACE("k " + std::to_string(c.k) + ", n " + std::to_string(c.n));
    const std::vector<float> weight =
        random_values(static_cast<size_t>(c.k * c.n), Distribution::kNormal, kSeed + static_cast<uint32_t>(c.n));
    const BlockQuantized first =
        quantize_blockwise(weight, c.k, c.n, c.block_size, c.bits, c.symmetric, ScaleType::kFloat32, true, 1);
    const ErrorMetrics expected = measure_error(weight, reference::dequantize_blockwise(first), 1);
    expect_near_relative(first.error.mse, expected.mse, "mse");
    expect_near_relative(first.error.sqnr_db, expected.sqnr_db, "sqnr");
    expect_near_relative(first.error.cosine_similarity, expected.cosine_similarity, "cosine");
    expect_near_relative(first.error.signal_power, expected.signal_power, "signal power");
    EXPECT_EQ(first.error.max_abs_error, expected.max_abs_error);
    for_each_level_and_thread_count([&](int threads) {
      const BlockQuantized quantized =
          quantize_blockwise(weight, c.k, c.n, c.block_size, c.bits, c.symmetric, ScaleType::kFloat32, true, threads);
      expect_same_metrics(quantized.error, first.error);
    });
  }
}

struct LinearCase {
  AxisLayout layout;
  bool is_signed;
};

TEST(LinearError, MatchesMeasureErrorOfDequantizedValues) {
  // Per tensor, per channel with the axis first, in the middle and last, over several error chunks.
  const std::vector<LinearCase> cases = {
      {{1, 1, 50000}, true}, {{1, 1, 50000}, false}, {{1, 7, 9000}, true},
      {{13, 11, 400}, false}, {{3000, 23, 1}, true},
  };
  for (const LinearCase& c : cases) {
    SCOPED_TRACE("layout " + std::to_string(c.layout.outer) + "x" + std::to_string(c.layout.channels) + "x" +
                 std::to_string(c.layout.inner) + (c.is_signed ? ", int8" : ", uint8"));
    const std::vector<float> values =
        random_values(static_cast<size_t>(c.layout.size()), Distribution::kHeavyTail, kSeed);
    const IntegerRange range = c.is_signed ? kInt8SymmetricRange : kUint8Range;
    const auto params = choose_linear_params(values, c.layout, c.is_signed, range, false, 1);
    std::vector<uint8_t> quantized(values.size());
    quantize_linear(values, c.layout, params, range, quantized, 1);
    std::vector<float> restored(values.size());
    reference::dequantize_linear(quantized, c.layout, params, c.is_signed, restored);
    const ErrorMetrics expected = measure_error(values, restored, 1);
    for_each_level_and_thread_count([&](int threads) {
      expect_same_metrics(measure_linear_error(values, quantized, c.layout, params, c.is_signed, threads), expected);
    });
  }
}

}  // namespace
}  // namespace onnxquant::kernels
