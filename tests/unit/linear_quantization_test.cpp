#include "kernels/linear_quantization.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace onnxquant::kernels {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr uint32_t kRandomSeed = 12345;
constexpr int kRandomTensorSize = 4096;
// Slack for float rounding in x / scale and in (q - zero_point) * scale, relative to the largest
// magnitude in the tensor. Each of the two operations adds at most half an ulp.
constexpr float kRoundingSlack = 4.0f * FLT_EPSILON;

AxisLayout per_tensor(size_t size) { return AxisLayout{1, 1, static_cast<int64_t>(size)}; }

// Quantizes with per-tensor parameters and returns the codes as signed or unsigned integers.
std::vector<int32_t> quantize_codes(const std::vector<float>& values, const LinearQuantParams& params,
                                    IntegerRange range) {
  std::vector<uint8_t> bytes(values.size());
  const std::vector<LinearQuantParams> param_list{params};
  quantize_linear(values, per_tensor(values.size()), param_list, range, bytes);
  std::vector<int32_t> codes;
  for (uint8_t byte : bytes) {
    codes.push_back(range.min < 0 ? static_cast<int32_t>(static_cast<int8_t>(byte)) : static_cast<int32_t>(byte));
  }
  return codes;
}

std::vector<float> dequantize(const std::vector<uint8_t>& bytes, const AxisLayout& layout,
                              const std::vector<LinearQuantParams>& params, bool is_signed) {
  std::vector<float> output(bytes.size());
  dequantize_linear(bytes, layout, params, is_signed, output);
  return output;
}

TEST(LinearSymmetric, ScaleAndCodes) {
  // max |x| = 1, so scale = 1 / 127. In float, 0.5 / scale is exactly 63.5 (the float scale is
  // below 1/127 by a relative 2^-28, less than half an ulp of 63.5), which rounds to even 64.
  const std::vector<float> values{-1.0f, 0.0f, 0.5f, 1.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, static_cast<float>(1.0 / 127.0));
  EXPECT_EQ(params[0].zero_point, 0);

  const auto codes = quantize_codes(values, params[0], kInt8SymmetricRange);
  EXPECT_EQ(codes, (std::vector<int32_t>{-127, 0, 64, 127}));
}

TEST(LinearSymmetric, StoresTwosComplementBytes) {
  const std::vector<float> values{-1.0f, 1.0f};
  const std::vector<LinearQuantParams> params{{static_cast<float>(1.0 / 127.0), 0}};
  std::vector<uint8_t> bytes(values.size());
  quantize_linear(values, per_tensor(values.size()), params, kInt8SymmetricRange, bytes);
  // -127 is 0x81 in two's complement.
  EXPECT_EQ(bytes[0], 0x81);
  EXPECT_EQ(bytes[1], 0x7F);
}

TEST(LinearSymmetric, HalfwayRoundsToEven) {
  // max |x| = 127 gives scale exactly 1, so x / scale is exactly x.
  const std::vector<float> values{127.0f, 0.5f, 1.5f, 2.5f, 3.5f, -2.5f, -0.5f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 1u);
  ASSERT_EQ(params[0].scale, 1.0f);

  const auto codes = quantize_codes(values, params[0], kInt8SymmetricRange);
  EXPECT_EQ(codes, (std::vector<int32_t>{127, 0, 2, 2, 4, -2, 0}));
}

TEST(LinearSymmetric, SingleElement) {
  // max |x| = 2, so scale = 2 / 127 and 2 / scale = 127.
  const std::vector<float> values{2.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, static_cast<float>(2.0 / 127.0));
  EXPECT_EQ(quantize_codes(values, params[0], kInt8SymmetricRange), (std::vector<int32_t>{127}));
}

TEST(LinearAsymmetric, AllPositiveIncludesZero) {
  // The range widens to [0, 510]: scale = 510 / 255 = 2, zero point = 0 - round(0 / 2) = 0.
  const std::vector<float> values{2.0f, 4.0f, 510.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, 2.0f);
  EXPECT_EQ(params[0].zero_point, 0);
  EXPECT_EQ(quantize_codes(values, params[0], kUint8Range), (std::vector<int32_t>{1, 2, 255}));
}

TEST(LinearAsymmetric, AllNegativeZeroPointMax) {
  // The range widens to [-510, 0]: scale = 2, zero point = 0 - round(-510 / 2) = 255.
  const std::vector<float> values{-510.0f, -4.0f, -2.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, 2.0f);
  EXPECT_EQ(params[0].zero_point, 255);
  // -510 / 2 + 255 = 0, -4 / 2 + 255 = 253, -2 / 2 + 255 = 254.
  EXPECT_EQ(quantize_codes(values, params[0], kUint8Range), (std::vector<int32_t>{0, 253, 254}));
}

TEST(LinearAsymmetric, MixedSignsExactZeroPoint) {
  // Range [-64, 191]: scale = 255 / 255 = 1, zero point = 0 - round(-64) = 64.
  const std::vector<float> values{-64.0f, 0.0f, 191.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, 1.0f);
  EXPECT_EQ(params[0].zero_point, 64);
  EXPECT_EQ(quantize_codes(values, params[0], kUint8Range), (std::vector<int32_t>{0, 64, 255}));
}

TEST(LinearAsymmetric, MixedSignsRoundedZeroPoint) {
  // Range [-1, 3]: scale = 4 / 255, -1 / scale = -63.75, zero point = 0 - round(-63.75) = 64.
  // Codes: round(-63.75) + 64 = 0, 0 + 64 = 64, round(191.25) + 64 = 255.
  const std::vector<float> values{-1.0f, 0.0f, 3.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(params[0].zero_point, 64);
  EXPECT_EQ(quantize_codes(values, params[0], kUint8Range), (std::vector<int32_t>{0, 64, 255}));
}

TEST(LinearSymmetric, AllZeroScaleOne) {
  const std::vector<float> values{0.0f, 0.0f, 0.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, 1.0f);
  EXPECT_EQ(params[0].zero_point, 0);

  std::vector<uint8_t> bytes(values.size());
  quantize_linear(values, per_tensor(values.size()), params, kInt8SymmetricRange, bytes);
  const auto restored = dequantize(bytes, per_tensor(values.size()), params, true);
  for (float x : restored) EXPECT_EQ(x, 0.0f);
}

TEST(LinearAsymmetric, AllZeroScaleOne) {
  const std::vector<float> values{0.0f, 0.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, 1.0f);
  EXPECT_EQ(params[0].zero_point, 0);

  std::vector<uint8_t> bytes(values.size());
  quantize_linear(values, per_tensor(values.size()), params, kUint8Range, bytes);
  const auto restored = dequantize(bytes, per_tensor(values.size()), params, false);
  for (float x : restored) EXPECT_EQ(x, 0.0f);
}

TEST(LinearQuantization, NegativeZeroDequantizesToZero) {
  const std::vector<float> values{-0.0f, -0.0f};
  for (bool symmetric : {true, false}) {
    const IntegerRange range = symmetric ? kInt8SymmetricRange : kUint8Range;
    const auto params = choose_linear_params(values, per_tensor(values.size()), symmetric, range);
    ASSERT_EQ(params.size(), 1u);
    EXPECT_EQ(params[0].scale, 1.0f) << "symmetric " << symmetric;
    EXPECT_EQ(params[0].zero_point, 0) << "symmetric " << symmetric;

    std::vector<uint8_t> bytes(values.size());
    quantize_linear(values, per_tensor(values.size()), params, range, bytes);
    for (uint8_t byte : bytes) EXPECT_EQ(byte, 0) << "symmetric " << symmetric;
    const auto restored = dequantize(bytes, per_tensor(values.size()), params, symmetric);
    for (float x : restored) EXPECT_EQ(x, 0.0f) << "symmetric " << symmetric;
  }
}

TEST(LinearSymmetric, NonFiniteValuesIgnoredForScale) {
  // Only -1 and 1 are finite, so the scale is 1 / 127 as for {-1, 1}.
  const std::vector<float> values{kNan, kInfinity, -kInfinity, 1.0f, -1.0f};
  const auto params = choose_linear_params(values, per_tensor(values.size()), true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, static_cast<float>(1.0 / 127.0));
  EXPECT_EQ(params[0].zero_point, 0);
}

TEST(LinearSymmetric, NonFiniteCodes) {
  const LinearQuantParams params{0.5f, 0};
  EXPECT_EQ(quantize_value(kNan, params, kInt8SymmetricRange), 0);
  EXPECT_EQ(quantize_value(kInfinity, params, kInt8SymmetricRange), 127);
  EXPECT_EQ(quantize_value(-kInfinity, params, kInt8SymmetricRange), -127);
}

TEST(LinearAsymmetric, NonFiniteValuesIgnoredForRange) {
  // The finite values span [-64, 191] as in MixedSignsExactZeroPoint: scale 1, zero point 64.
  const std::vector<float> values{kNan, -64.0f, kInfinity, 191.0f, -kInfinity};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, 1.0f);
  EXPECT_EQ(params[0].zero_point, 64);
}

TEST(LinearAsymmetric, NonFiniteCodes) {
  // NaN takes the zero point, the infinities saturate to the ends of [0, 255].
  const std::vector<float> values{kNan, kInfinity, -kInfinity};
  const LinearQuantParams params{1.0f, 64};
  EXPECT_EQ(quantize_codes(values, params, kUint8Range), (std::vector<int32_t>{64, 255, 0}));
}

TEST(LinearQuantization, SaturatesOutOfRange) {
  // With scale 1: 300 clamps to 127 and -300 to -127 in int8, 300 + 10 to 255 and -300 + 10 to 0 in uint8.
  EXPECT_EQ(quantize_value(300.0f, {1.0f, 0}, kInt8SymmetricRange), 127);
  EXPECT_EQ(quantize_value(-300.0f, {1.0f, 0}, kInt8SymmetricRange), -127);
  EXPECT_EQ(quantize_value(300.0f, {1.0f, 10}, kUint8Range), 255);
  EXPECT_EQ(quantize_value(-300.0f, {1.0f, 10}, kUint8Range), 0);
}

// Layout [outer=2, channels=3, inner=2]: element (o, c, i) is at (o * 3 + c) * 2 + i, so channel 0
// owns indices {0, 1, 6, 7}, channel 1 owns {2, 3, 8, 9} and channel 2 owns {4, 5, 10, 11}.
const AxisLayout kChannelLayout{2, 3, 2};
// Channel c has max |x| = 127 * 2^c, so the symmetric scales are exactly 1, 2 and 4. The largest
// magnitude of channels 1 and 2 sits in the second outer slice.
const std::vector<float> kChannelValues{
    1.0f, -127.0f,  // o=0, c=0
    2.0f, -4.0f,    // o=0, c=1
    4.0f, -8.0f,    // o=0, c=2
    3.0f, 5.0f,     // o=1, c=0
    254.0f, 10.0f,  // o=1, c=1
    -508.0f, 12.0f  // o=1, c=2
};

TEST(LinearPerChannel, ScalesIndependent) {
  const auto params = choose_linear_params(kChannelValues, kChannelLayout, true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0].scale, 1.0f);
  EXPECT_EQ(params[1].scale, 2.0f);
  EXPECT_EQ(params[2].scale, 4.0f);
  for (const auto& p : params) EXPECT_EQ(p.zero_point, 0);
}

TEST(LinearPerChannel, CodesUseOwnChannel) {
  const std::vector<LinearQuantParams> params{{1.0f, 0}, {2.0f, 0}, {4.0f, 0}};
  std::vector<uint8_t> bytes(kChannelValues.size());
  quantize_linear(kChannelValues, kChannelLayout, params, kInt8SymmetricRange, bytes);
  // Each value divided by its channel's scale.
  const std::vector<int32_t> expected{1, -127, 1, -2, 1, -2, 3, 5, 127, 5, -127, 3};
  ASSERT_EQ(bytes.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(static_cast<int8_t>(bytes[i]), expected[i]) << "index " << i;
  }
}

TEST(LinearPerChannel, DequantizeRestoresMultiples) {
  // Every value is a multiple of its channel's scale, so the round trip is exact.
  const std::vector<LinearQuantParams> params{{1.0f, 0}, {2.0f, 0}, {4.0f, 0}};
  std::vector<uint8_t> bytes(kChannelValues.size());
  quantize_linear(kChannelValues, kChannelLayout, params, kInt8SymmetricRange, bytes);
  const auto restored = dequantize(bytes, kChannelLayout, params, true);
  ASSERT_EQ(restored.size(), kChannelValues.size());
  for (size_t i = 0; i < restored.size(); ++i) EXPECT_EQ(restored[i], kChannelValues[i]) << "index " << i;
}

TEST(LinearPerChannel, AsymmetricZeroPoints) {
  // Layout [outer=2, channels=2, inner=1]: channel 0 owns indices {0, 2} = {-64, 191}, so scale 1 and
  // zero point 64. Channel 1 owns indices {1, 3} = {2, 510}, so range [0, 510], scale 2, zero point 0.
  // Codes: -64 + 64 = 0, 2 / 2 = 1, 191 + 64 = 255, 510 / 2 = 255.
  const AxisLayout layout{2, 2, 1};
  const std::vector<float> values{-64.0f, 2.0f, 191.0f, 510.0f};
  const auto params = choose_linear_params(values, layout, false, kUint8Range);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].scale, 1.0f);
  EXPECT_EQ(params[0].zero_point, 64);
  EXPECT_EQ(params[1].scale, 2.0f);
  EXPECT_EQ(params[1].zero_point, 0);

  std::vector<uint8_t> bytes(values.size());
  quantize_linear(values, layout, params, kUint8Range, bytes);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 1, 255, 255}));
}

TEST(LinearAsymmetric, FloatMaxSpanFinite) {
  // max - min = 2 * FLT_MAX overflows float but not double. FLT_MAX = (2^24 - 1) * 2^104 and
  // 2^24 - 1 = 255 * 65793, so the scale is exactly 65793 * 2^105 and -FLT_MAX / scale = -127.5,
  // which rounds to even -128: zero point 128.
  const std::vector<float> values{-FLT_MAX, FLT_MAX};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_TRUE(std::isfinite(params[0].scale));
  EXPECT_EQ(params[0].scale, std::ldexp(65793.0f, 105));
  EXPECT_EQ(params[0].zero_point, 128);
}

TEST(LinearAsymmetric, FloatMaxRoundTripsExactly) {
  // Range [0, FLT_MAX]: scale = FLT_MAX / 255 = 65793 * 2^104 exactly and zero point 0, so FLT_MAX
  // maps to code 255 and 255 * scale is FLT_MAX again.
  const std::vector<float> values{0.0f, FLT_MAX};
  const auto params = choose_linear_params(values, per_tensor(values.size()), false, kUint8Range);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].scale, std::ldexp(65793.0f, 104));
  EXPECT_EQ(params[0].zero_point, 0);

  std::vector<uint8_t> bytes(values.size());
  quantize_linear(values, per_tensor(values.size()), params, kUint8Range, bytes);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 255}));
  const auto restored = dequantize(bytes, per_tensor(values.size()), params, false);
  EXPECT_EQ(restored[0], 0.0f);
  EXPECT_EQ(restored[1], FLT_MAX);
}

TEST(LinearSymmetric, FloatMaxScaleFinite) {
  const std::vector<float> values{-FLT_MAX, FLT_MAX};
  const auto params = choose_linear_params(values, per_tensor(values.size()), true, kInt8SymmetricRange);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_TRUE(std::isfinite(params[0].scale));
  EXPECT_GT(params[0].scale, 0.0f);
  EXPECT_EQ(quantize_codes(values, params[0], kInt8SymmetricRange), (std::vector<int32_t>{-127, 127}));
}

TEST(LinearQuantization, SubnormalTensorScaleAtLeastFltMin) {
  // max |x| = 2^-149, so the raw scale 2^-149 / 127 (or 2 * 2^-149 / 255) underflows. The scale is
  // raised to FLT_MIN = 2^-126, and x / scale = 2^-23 rounds to code 0 with zero point 0.
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> values{tiny, -tiny, 0.0f};
  for (bool symmetric : {true, false}) {
    const IntegerRange range = symmetric ? kInt8SymmetricRange : kUint8Range;
    const auto params = choose_linear_params(values, per_tensor(values.size()), symmetric, range);
    ASSERT_EQ(params.size(), 1u);
    EXPECT_EQ(params[0].scale, FLT_MIN) << "symmetric " << symmetric;
    EXPECT_EQ(params[0].zero_point, 0) << "symmetric " << symmetric;

    std::vector<uint8_t> bytes(values.size());
    quantize_linear(values, per_tensor(values.size()), params, range, bytes);
    const auto restored = dequantize(bytes, per_tensor(values.size()), params, symmetric);
    for (float x : restored) {
      EXPECT_FALSE(std::isnan(x)) << "symmetric " << symmetric;
      EXPECT_EQ(x, 0.0f) << "symmetric " << symmetric;
    }
  }
}

TEST(LinearQuantization, DequantizeUsesZeroPoint) {
  // (q - zero_point) * scale: (0 - 64) * 0.5 = -32, (64 - 64) * 0.5 = 0, (255 - 64) * 0.5 = 95.5.
  const std::vector<uint8_t> bytes{0, 64, 255};
  const std::vector<LinearQuantParams> params{{0.5f, 64}};
  const auto restored = dequantize(bytes, per_tensor(bytes.size()), params, false);
  EXPECT_EQ(restored, (std::vector<float>{-32.0f, 0.0f, 95.5f}));
}

// Checks |dequantize(quantize(x)) - x| <= scale / 2 plus float rounding slack for every element.
void expect_round_trip_within_half_step(const std::vector<float>& values, const AxisLayout& layout, bool symmetric) {
  const IntegerRange range = symmetric ? kInt8SymmetricRange : kUint8Range;
  const auto params = choose_linear_params(values, layout, symmetric, range);
  std::vector<uint8_t> bytes(values.size());
  quantize_linear(values, layout, params, range, bytes);
  const auto restored = dequantize(bytes, layout, params, symmetric);

  float max_abs = 0.0f;
  for (float x : values) max_abs = std::max(max_abs, std::fabs(x));
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      for (int64_t i = 0; i < layout.inner; ++i) {
        const int64_t index = (o * layout.channels + c) * layout.inner + i;
        const float bound = params[c].scale / 2.0f + kRoundingSlack * max_abs;
        EXPECT_LE(std::fabs(restored[index] - values[index]), bound)
            << "index " << index << " value " << values[index] << " symmetric " << symmetric;
      }
    }
  }
}

std::vector<float> random_tensor(size_t size, float low, float high) {
  std::mt19937 generator(kRandomSeed);
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(size);
  for (float& x : values) x = distribution(generator);
  return values;
}

TEST(LinearRoundTrip, PerTensorSymmetric) {
  const auto values = random_tensor(kRandomTensorSize, -3.0f, 5.0f);
  expect_round_trip_within_half_step(values, per_tensor(values.size()), true);
}

TEST(LinearRoundTrip, PerTensorAsymmetric) {
  const auto values = random_tensor(kRandomTensorSize, -3.0f, 5.0f);
  expect_round_trip_within_half_step(values, per_tensor(values.size()), false);
}

TEST(LinearRoundTrip, PerChannelBothModes) {
  // 4 * 8 * 128 = 4096 elements. A per-channel factor gives each channel its own range.
  const AxisLayout layout{4, 8, 128};
  auto values = random_tensor(static_cast<size_t>(layout.size()), -1.0f, 1.0f);
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      for (int64_t i = 0; i < layout.inner; ++i) {
        values[(o * layout.channels + c) * layout.inner + i] *= static_cast<float>(c + 1) * 0.75f;
      }
    }
  }
  expect_round_trip_within_half_step(values, layout, true);
  expect_round_trip_within_half_step(values, layout, false);
}

}  // namespace
}  // namespace onnxquant::kernels
