// The importance-weighted scale search against the unweighted search it extends.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/block_quantization.hpp"
#include "kernels/scale_search.hpp"
#include "kernels/weighted_scale_search.hpp"

namespace onnxquant::kernels {
namespace {

constexpr CodeRange kInt4Codes{0, 15};

float identity_store(float scale) { return scale; }

std::vector<float> normal_values(size_t count, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> distribution(0.0f, 1.0f);
  std::vector<float> values(count);
  for (auto& value : values) value = distribution(generator);
  return values;
}

TEST(WeightedScaleSearch, EqualWeightsGiveTheUnweightedChoice) {
  const std::vector<float> values = normal_values(32, 7);
  const std::vector<float> weights(values.size(), 2.0f);
  float largest = 0.0f;
  for (float x : values) largest = std::fabs(x) > std::fabs(largest) ? x : largest;
  const ScaleChoice initial{largest / -8.0f, 8};
  const ScaleChoice plain = search_scale(values, kInt4Codes, initial, true, identity_store, true);
  const ScaleChoice weighted = search_scale_weighted(values, weights, kInt4Codes, initial, true, identity_store, true);
  EXPECT_FLOAT_EQ(weighted.scale, plain.scale);
  EXPECT_EQ(weighted.zero_point, plain.zero_point);
}

TEST(WeightedScaleSearch, WeightedErrorIsHandComputed) {
  // Scale 0.5, zero point 8: 0.3 -> code 9 -> 0.5 (error 0.04); 1.0 -> code 10 -> 1.0 (error 0).
  const std::vector<float> values = {0.3f, 1.0f};
  const std::vector<float> weights = {3.0f, 1.0f};
  EXPECT_NEAR(weighted_squared_error(values, weights, {0.5f, 8}, kInt4Codes), 3.0 * 0.04, 1e-7);
}

// Sum over rows of importance[k] * squared error of row k.
double row_weighted_error(const std::vector<float>& weight, const std::vector<float>& restored,
                          const std::vector<float>& importance, int64_t n) {
  double error = 0.0;
  for (size_t i = 0; i < weight.size(); ++i) {
    const double d = weight[i] - restored[i];
    error += importance[i / static_cast<size_t>(n)] * d * d;
  }
  return error;
}

TEST(WeightedScaleSearch, ImportanceLowersTheWeightedBlockError) {
  constexpr int64_t kK = 64;
  constexpr int64_t kN = 16;
  const std::vector<float> weight = normal_values(kK * kN, 11);
  // A few input channels carry most of the activation energy, as outlier channels do.
  std::vector<float> importance(kK, 0.01f);
  for (int64_t k = 0; k < kK; k += 9) importance[k] = 100.0f;
  for (bool symmetric : {true, false}) {
    const auto plain = quantize_blockwise(weight, kK, kN, 32, 4, symmetric, ScaleType::kFloat32, true);
    const auto aware = quantize_blockwise(weight, kK, kN, 32, 4, symmetric, ScaleType::kFloat32, true,
                                          /*threads=*/2, importance);
    const auto reference_aware =
        reference::quantize_blockwise(weight, kK, kN, 32, 4, symmetric, ScaleType::kFloat32, true, importance);
    EXPECT_EQ(aware.packed, reference_aware.packed);
    EXPECT_EQ(aware.scales, reference_aware.scales);
    const double plain_error = row_weighted_error(weight, dequantize_blockwise(plain), importance, kN);
    const double aware_error = row_weighted_error(weight, dequantize_blockwise(aware), importance, kN);
    EXPECT_LT(aware_error, 0.8 * plain_error) << (symmetric ? "symmetric" : "asymmetric");
  }
}

}  // namespace
}  // namespace onnxquant::kernels
