#include "kernels/float16.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace onnxquant::kernels {
namespace {

constexpr uint16_t kPositiveInfinity = 0x7C00;
constexpr uint16_t kNegativeInfinity = 0xFC00;
constexpr uint16_t kLargestHalf = 0x7BFF;  // 65504
constexpr uint32_t kRandomSeed = 20240611;
constexpr int kRandomSamples = 200000;

bool is_half_nan(uint16_t bits) { return (bits & 0x7C00) == 0x7C00 && (bits & 0x03FF) != 0; }

// Computes the value of a binary16 pattern from the format definition, (-1)^s * 2^(e - 15) * (1 + m / 1024)
// for normal numbers and (-1)^s * 2^-24 * m for subnormals.
double reference_half_value(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  const double sign = (bits & 0x8000) != 0 ? -1.0 : 1.0;
  if (exponent == 0x1F) return sign * std::numeric_limits<double>::infinity();
  if (exponent == 0) return sign * std::ldexp(static_cast<double>(mantissa), -24);
  return sign * std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
}

TEST(Float16, EncodesOne) {
  // 1.0 = 2^0: biased exponent 15 (0b01111), mantissa 0.
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
}

TEST(Float16, EncodesNegativeTwo) {
  // -2.0: sign 1, biased exponent 16 (0b10000), mantissa 0.
  EXPECT_EQ(float_to_half(-2.0f), 0xC000);
}

TEST(Float16, EncodesOneTenth) {
  // 0.1f = 1.6000000238 * 2^-4: exponent 11 gives 0x2C00, mantissa 0.6000000238 * 1024 = 614.4 -> 614 = 0x266.
  EXPECT_EQ(float_to_half(0.1f), 0x2E66);
}

TEST(Float16, EncodesLargestFinite) {
  // 65504 = (2 - 2^-10) * 2^15: exponent 30, mantissa all ones.
  EXPECT_EQ(float_to_half(65504.0f), kLargestHalf);
  EXPECT_EQ(float_to_half(-65504.0f), 0xFBFF);
}

TEST(Float16, BelowOverflowTieStaysFinite) {
  // The midpoint between 65504 and 65536 is 65520. Anything below it rounds down to 65504.
  EXPECT_EQ(float_to_half(65519.0f), kLargestHalf);
  EXPECT_EQ(float_to_half(std::nextafter(65520.0f, 0.0f)), kLargestHalf);
}

TEST(Float16, OverflowTieRoundsToInfinity) {
  // 65520 is exactly halfway. 0x7BFF has an odd mantissa, so ties to even carries into infinity.
  EXPECT_EQ(float_to_half(65520.0f), kPositiveInfinity);
  EXPECT_EQ(float_to_half(-65520.0f), kNegativeInfinity);
}

TEST(Float16, LargeValuesBecomeInfinity) {
  EXPECT_EQ(float_to_half(1.0e6f), kPositiveInfinity);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::max()), kPositiveInfinity);
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::max()), kNegativeInfinity);
}

TEST(Float16, EncodesInfinities) {
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), kPositiveInfinity);
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::infinity()), kNegativeInfinity);
}

TEST(Float16, NanStaysNan) {
  const uint16_t quiet = float_to_half(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(is_half_nan(quiet)) << std::hex << quiet;

  // A float NaN whose payload sits only in the low 13 mantissa bits must not collapse to infinity.
  const float low_payload_nan = std::bit_cast<float>(0x7F800001u);
  ASSERT_TRUE(std::isnan(low_payload_nan));
  const uint16_t converted = float_to_half(low_payload_nan);
  EXPECT_TRUE(is_half_nan(converted)) << std::hex << converted;
}

TEST(Float16, NegativeZeroKeepsSign) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
}

TEST(Float16, SmallestNormal) {
  // 2^-14: biased exponent 1, mantissa 0.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);
}

TEST(Float16, SmallestSubnormal) {
  // 2^-24 is mantissa 1 with exponent field 0.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(-std::ldexp(1.0f, -24)), 0x8001);
}

TEST(Float16, SubnormalTieRoundsToZero) {
  // 2^-25 lies halfway between 0 and 2^-24. Zero has the even mantissa.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(float_to_half(-std::ldexp(1.0f, -25)), 0x8000);
}

TEST(Float16, SubnormalTieRoundsToEven) {
  // 3 * 2^-25 = 1.5 * 2^-24 lies between mantissas 1 and 2, so it goes to 2.
  EXPECT_EQ(float_to_half(3.0f * std::ldexp(1.0f, -25)), 0x0002);
  // 5 * 2^-25 = 2.5 * 2^-24 lies between mantissas 2 and 3, so it goes to 2.
  EXPECT_EQ(float_to_half(5.0f * std::ldexp(1.0f, -25)), 0x0002);
}

TEST(Float16, JustAboveSubnormalTieRoundsUp) {
  // Any value above 2^-25 is nearer to 2^-24 than to 0.
  EXPECT_EQ(float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
}

TEST(Float16, BelowQuarterSubnormalIsZero) {
  // 2^-26 is a quarter of the smallest subnormal.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(Float16, SubnormalTieCarriesToNormal) {
  // 1023.5 * 2^-24 lies between the largest subnormal 0x03FF (odd) and 2^-14 = 0x0400 (even).
  EXPECT_EQ(float_to_half(1023.5f * std::ldexp(1.0f, -24)), 0x0400);
}

TEST(Float16, NormalTieRoundsDownToEven) {
  // 1 + 2^-11 is halfway between 1 (0x3C00, even) and 1 + 2^-10 (0x3C01).
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
}

TEST(Float16, NormalTieRoundsUpToEven) {
  // 1 + 3 * 2^-11 is halfway between 0x3C01 (odd) and 0x3C02 (even).
  EXPECT_EQ(float_to_half(1.0f + 3.0f * std::ldexp(1.0f, -11)), 0x3C02);
}

TEST(Float16, AboveNormalTieRoundsUp) {
  // 1 + 2^-11 + 2^-20 is past the midpoint, so it goes to 0x3C01.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
}

TEST(Float16, MantissaCarryIncrementsExponent) {
  // 2 - 2^-11 is halfway between 2 - 2^-10 (0x3FFF, odd) and 2.0 (0x4000).
  EXPECT_EQ(float_to_half(2.0f - std::ldexp(1.0f, -11)), 0x4000);
}

TEST(Float16, DecodesKnownPatterns) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03FF), 1023.0f * std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
}

TEST(Float16, DecodesNegativeZero) {
  const float value = half_to_float(0x8000);
  EXPECT_EQ(value, 0.0f);
  EXPECT_TRUE(std::signbit(value));
}

TEST(Float16, DecodeMatchesFormatDefinition) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto half = static_cast<uint16_t>(bits);
    const float value = half_to_float(half);
    if (is_half_nan(half)) {
      EXPECT_TRUE(std::isnan(value)) << "bits 0x" << std::hex << bits;
      continue;
    }
    EXPECT_EQ(static_cast<double>(value), reference_half_value(half)) << "bits 0x" << std::hex << bits;
  }
}

TEST(Float16, RoundTripsEveryNonNanPattern) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto half = static_cast<uint16_t>(bits);
    if (is_half_nan(half)) continue;
    EXPECT_EQ(float_to_half(half_to_float(half)), half) << "bits 0x" << std::hex << bits;
  }
}

TEST(Float16, RandomFloatsRoundToNearestEven) {
  // For finite floats below the overflow midpoint 65520, the result must be a half whose value is no
  // farther from the input than either neighbor, and on an exact tie the mantissa must be even.
  std::mt19937 generator(kRandomSeed);
  std::uniform_int_distribution<uint32_t> bit_distribution;
  int checked = 0;
  while (checked < kRandomSamples) {
    const float x = std::bit_cast<float>(bit_distribution(generator));
    if (!std::isfinite(x) || std::fabs(x) >= 65520.0f) continue;
    ++checked;

    const uint16_t half = float_to_half(x);
    ASSERT_FALSE(is_half_nan(half)) << x;
    const double value = reference_half_value(half);
    const double error = std::fabs(static_cast<double>(x) - value);
    // Neighbors of the same sign: one pattern up and one down in magnitude.
    const uint16_t magnitude = half & 0x7FFF;
    const uint16_t sign = half & 0x8000;
    if (magnitude < kLargestHalf) {
      const double up = reference_half_value(static_cast<uint16_t>(sign | (magnitude + 1)));
      ASSERT_LE(error, std::fabs(static_cast<double>(x) - up)) << x;
      if (error == std::fabs(static_cast<double>(x) - up)) {
        ASSERT_EQ(half & 1, 0) << x;
      }
    }
    if (magnitude > 0) {
      const double down = reference_half_value(static_cast<uint16_t>(sign | (magnitude - 1)));
      ASSERT_LE(error, std::fabs(static_cast<double>(x) - down)) << x;
      if (error == std::fabs(static_cast<double>(x) - down)) {
        ASSERT_EQ(half & 1, 0) << x;
      }
    }
  }
}

TEST(Bfloat16, DecodesOne) {
  // 0x3F80 is the top half of float 1.0 (0x3F800000).
  EXPECT_EQ(bfloat16_to_float(0x3F80), 1.0f);
}

TEST(Bfloat16, DecodesNegativeTwo) {
  EXPECT_EQ(bfloat16_to_float(0xC000), -2.0f);
}

TEST(Bfloat16, DecodesFractionalValue) {
  // 0x4049: exponent 128 (2^1), mantissa 0x49 = 73 of 128, so 2 * (1 + 73 / 128) = 3.140625.
  EXPECT_EQ(bfloat16_to_float(0x4049), 3.140625f);
}

TEST(Bfloat16, DecodesSubnormal) {
  // 0x0001 becomes float bits 0x00010000, a subnormal of 2^16 * 2^-149 = 2^-133.
  EXPECT_EQ(bfloat16_to_float(0x0001), std::ldexp(1.0f, -133));
}

TEST(Bfloat16, DecodesSpecialValues) {
  EXPECT_EQ(bfloat16_to_float(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bfloat16_to_float(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bfloat16_to_float(0x7FC0)));
  EXPECT_TRUE(std::signbit(bfloat16_to_float(0x8000)));
  EXPECT_EQ(bfloat16_to_float(0x8000), 0.0f);
}

}  // namespace
}  // namespace onnxquant::kernels
