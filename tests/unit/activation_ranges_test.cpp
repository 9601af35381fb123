// Calibration range methods against values worked out by hand.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/activation_ranges.hpp"

namespace onnxquant::kernels {
namespace {

TEST(ActivationRanges, MinMaxIsTheExtremes) {
  const std::vector<float> values = {-1.0f, 0.5f, 3.0f, 2.0f};
  const ValueRange range = minmax_range(values);
  EXPECT_EQ(range.min, -1.0);
  EXPECT_EQ(range.max, 3.0);
}

TEST(ActivationRanges, PercentileAtWholeRanks) {
  std::vector<float> values;
  for (int i = 100; i >= 0; --i) values.push_back(static_cast<float>(i));  // 101 values, and the value at rank i is i
  const ValueRange range = percentile_range(values, 99.0);
  EXPECT_DOUBLE_EQ(range.min, 1.0);
  EXPECT_DOUBLE_EQ(range.max, 99.0);
  const ValueRange full = percentile_range(values, 100.0);
  EXPECT_DOUBLE_EQ(full.min, 0.0);
  EXPECT_DOUBLE_EQ(full.max, 100.0);
}

TEST(ActivationRanges, PercentileInterpolatesBetweenRanks) {
  // Two values: rank 0.75 * 1 is three quarters of the way from 0 to 10, rank 0.25 a quarter.
  const std::vector<float> values = {10.0f, 0.0f};
  const ValueRange range = percentile_range(values, 75.0);
  EXPECT_DOUBLE_EQ(range.min, 2.5);
  EXPECT_DOUBLE_EQ(range.max, 7.5);
}

TEST(ActivationRanges, MseKeepsTheOccupiedBins) {
  // 4 bins on [0, 8]: ten values in bin 0 (centre 1) and one in bin 3 (centre 7). The range [0, 7]
  // (step 112 of 128) represents centre 7 exactly and errs by (36 * 7/255 - 1)^2 = 1.4e-4 at each
  // of the ten at centre 1, 1.4e-3 in all; the next narrower top, 7 - 1/16, clips centre 7 alone
  // by 0.0039. So the top stays in [7, 8] and the bottom at 0.
  std::vector<float> values(10, 0.0f);
  values.push_back(8.0f);
  const ValueRange range = mse_range(values, 4);
  EXPECT_DOUBLE_EQ(range.min, 0.0);
  EXPECT_GE(range.max, 7.0);
  EXPECT_LE(range.max, 8.0);
}

TEST(ActivationRanges, MseClipsAFarOutlier) {
  // A million values evenly on [-1, 1] and one at 300. The full range has scale 301/255 = 1.18, so
  // nearly every value rounds to 0 (error about 1e6 / 3). Clipping the top at h costs (300 - h)^2
  // for the outlier plus about 1e6 * ((h + 1) / 255)^2 / 12 for the rest, least near h = 131.
  std::vector<float> values;
  constexpr int kCount = 1000000;
  for (int i = 0; i < kCount; ++i) values.push_back(-1.0f + 2.0f * static_cast<float>(i) / kCount);
  values.push_back(300.0f);
  const ValueRange range = mse_range(values);
  EXPECT_GT(range.max, 100.0);
  EXPECT_LT(range.max, 160.0);
  // The histogram's bins are 301/2048 = 0.147 wide, so the bulk fills only 14 of them and its lower
  // edge is resolved to a few bins.
  EXPECT_LT(range.min, -0.5);
}

TEST(ActivationRanges, Uint8ParamsIncludeZero) {
  const Uint8Params positive = uint8_params({2.0, 5.1});
  EXPECT_FLOAT_EQ(positive.scale, 0.02f);  // [0, 5.1] / 255
  EXPECT_EQ(positive.zero_point, 0);
  const Uint8Params mixed = uint8_params({-2.55, 0.0});
  EXPECT_FLOAT_EQ(mixed.scale, 0.01f);
  EXPECT_EQ(mixed.zero_point, 255);
  const Uint8Params empty = uint8_params({0.0, 0.0});
  EXPECT_EQ(empty.scale, 1.0f);
}

}  // namespace
}  // namespace onnxquant::kernels
