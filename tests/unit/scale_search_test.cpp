// Scale search against the min/max choice it starts from.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/block_quantization.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/float16.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {
namespace {

constexpr uint32_t kSeed = 1234;
constexpr CodeRange kInt4Codes{0, 15};

float identity_store(float scale) { return scale; }

std::vector<float> normal_values(size_t count, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> distribution(0.0f, 1.0f);
  std::vector<float> values(count);
  for (auto& value : values) value = distribution(generator);
  return values;
}

TEST(ScaleSearch, NeverWorseThanMinMax) {
  for (uint32_t seed = 0; seed < 200; ++seed) {
    const std::vector<float> block = normal_values(32, kSeed + seed);
    float largest = 0.0f;
    for (float x : block) largest = std::fabs(x) > std::fabs(largest) ? x : largest;
    const ScaleChoice minmax{largest / -8.0f, 8};
    const ScaleChoice searched = search_scale(block, kInt4Codes, minmax, true, identity_store, true);
    EXPECT_LE(squared_error(block, searched, kInt4Codes), squared_error(block, minmax, kInt4Codes)) << seed;
  }
}

TEST(ScaleSearch, ClipsSingleOutlier) {
  // One value far outside the others: min/max spends the whole range on it, and the search trades
  // its accuracy for a finer step on the remaining values.
  std::vector<float> block = normal_values(128, kSeed);
  block[7] = 12.0f;
  const ScaleChoice minmax{12.0f / -8.0f, 8};
  const ScaleChoice searched = search_scale(block, kInt4Codes, minmax, true, identity_store, true);
  const double minmax_error = squared_error(block, minmax, kInt4Codes);
  const double searched_error = squared_error(block, searched, kInt4Codes);
  EXPECT_LT(searched_error, 0.9 * minmax_error);
}

TEST(ScaleSearch, KeepsFixedZeroPoint) {
  const std::vector<float> block = normal_values(64, kSeed + 1);
  const ScaleChoice searched = search_scale(block, {-127, 127}, {0.03f, 0}, true, identity_store);
  EXPECT_EQ(searched.zero_point, 0);
  EXPECT_GT(searched.scale, 0.0f);
}

TEST(ScaleSearch, AsymmetricZeroPointInRange) {
  std::vector<float> block = normal_values(64, kSeed + 2);
  for (auto& x : block) x = std::fabs(x) + 0.5f;
  const ScaleChoice searched = search_scale(block, {0, 255}, {block[0] / 255.0f + 0.02f, 0}, false, identity_store);
  EXPECT_GE(searched.zero_point, 0);
  EXPECT_LE(searched.zero_point, 255);
  EXPECT_GT(searched.scale, 0.0f);
}

TEST(ScaleSearch, ExactBlockUnchanged) {
  // Values on the min/max grid are reconstructed exactly, so nothing can improve on them.
  const std::vector<float> block{-8.0f, -4.0f, 0.0f, 2.0f, 7.0f};
  const ScaleChoice minmax{1.0f, 8};
  const ScaleChoice searched = search_scale(block, kInt4Codes, minmax, true, identity_store, true);
  EXPECT_EQ(searched.scale, minmax.scale);
  EXPECT_EQ(squared_error(block, searched, kInt4Codes), 0.0);
}

TEST(ScaleSearch, BlockwiseSqnrNotLower) {
  const std::vector<float> weight = normal_values(96 * 24, kSeed + 3);
  for (bool symmetric : {true, false}) {
    const auto minmax = quantize_blockwise_int4(weight, 96, 24, 32, symmetric, ScaleType::kFloat32, false);
    const auto searched = quantize_blockwise_int4(weight, 96, 24, 32, symmetric, ScaleType::kFloat32, true);
    const double minmax_sqnr = measure_error(weight, dequantize_blockwise_int4(minmax)).sqnr_db;
    const double searched_sqnr = measure_error(weight, dequantize_blockwise_int4(searched)).sqnr_db;
    EXPECT_GT(searched_sqnr, minmax_sqnr + 0.2) << "symmetric " << symmetric;
  }
}

TEST(ScaleSearch, RecordsMinMaxErrorOfTheSearchedBlocks) {
  // K = 100 leaves a short last block.
  const std::vector<float> weight = normal_values(100 * 24, kSeed + 5);
  for (bool symmetric : {true, false}) {
    const auto minmax = quantize_blockwise_int4(weight, 100, 24, 32, symmetric, ScaleType::kFloat32, false);
    const auto searched = quantize_blockwise_int4(weight, 100, 24, 32, symmetric, ScaleType::kFloat32, true);
    const std::vector<float> restored = dequantize_blockwise_int4(minmax);
    double noise = 0.0;
    for (size_t i = 0; i < weight.size(); ++i) noise += (weight[i] - restored[i]) * (weight[i] - restored[i]);
    EXPECT_EQ(minmax.minmax_squared_error, 0.0);
    EXPECT_NEAR(searched.minmax_squared_error, noise, 1e-6 * noise) << "symmetric " << symmetric;
  }
}

TEST(ScaleSearch, Float16ScalesRepresentable) {
  const std::vector<float> weight = normal_values(64 * 8, kSeed + 4);
  const auto searched = quantize_blockwise_int4(weight, 64, 8, 32, true, ScaleType::kFloat16, true);
  for (float scale : searched.scales) {
    const float rounded = half_to_float(float_to_half(scale));
    EXPECT_EQ(rounded, scale);
  }
}

TEST(ScaleSearch, LinearPerChannelNotWorse) {
  std::vector<float> values = normal_values(16 * 40, kSeed + 5);
  values[3] = 9.0f;
  const AxisLayout layout{1, 16, 40};
  const auto minmax = choose_linear_params(values, layout, true, kInt8SymmetricRange, false);
  const auto searched = choose_linear_params(values, layout, true, kInt8SymmetricRange, true);
  std::vector<uint8_t> codes(values.size());
  std::vector<float> restored(values.size());
  quantize_linear(values, layout, minmax, kInt8SymmetricRange, codes);
  dequantize_linear(codes, layout, minmax, true, restored);
  const double minmax_mse = measure_error(values, restored).mse;
  quantize_linear(values, layout, searched, kInt8SymmetricRange, codes);
  dequantize_linear(codes, layout, searched, true, restored);
  EXPECT_LE(measure_error(values, restored).mse, minmax_mse);
  for (const auto& channel : searched) EXPECT_GT(channel.scale, 0.0f);
}

}  // namespace
}  // namespace onnxquant::kernels
