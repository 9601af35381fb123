#include "kernels/float16.hpp"

#include <bit>
#include <cmath>
#include <cstring>

namespace onnxquant::kernels {

uint16_t float_to_half(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t exponent = (bits >> 23) & 0xffu;
  uint32_t mantissa = bits & 0x7fffffu;

  if (exponent == 0xff) {
    // Infinity keeps its sign; NaN becomes a quiet NaN with the top mantissa bits kept.
    if (mantissa == 0) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | (mantissa >> 13));
  }

  // Unbiased exponent re-biased for float16 (bias 15 instead of 127).
  const int half_exponent = static_cast<int>(exponent) - 127 + 15;
  if (half_exponent >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);

  if (half_exponent <= 0) {
    // Subnormal float16 or zero: shift the mantissa with its implicit bit into place.
    if (half_exponent < -10) return sign;
    mantissa |= 0x800000u;
    const int shift = 14 - half_exponent;
    const uint32_t truncated = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    uint32_t rounded = truncated;
    if (remainder > halfway || (remainder == halfway && (truncated & 1u))) ++rounded;
    return static_cast<uint16_t>(sign | rounded);
  }

  uint32_t result = (static_cast<uint32_t>(half_exponent) << 10) | (mantissa >> 13);
  const uint32_t remainder = mantissa & 0x1fffu;
  // A carry out of the mantissa correctly increments the exponent, up to infinity.
  if (remainder > 0x1000u || (remainder == 0x1000u && (result & 1u))) ++result;
  return static_cast<uint16_t>(sign | result);
}

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;

  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);

  // Subnormal float16: normalize into a float32 normal number.
  int normalized_exponent = 127 - 15 + 1;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --normalized_exponent;
  }
  mantissa &= 0x3ffu;
  return std::bit_cast<float>(sign | (static_cast<uint32_t>(normalized_exponent) << 23) | (mantissa << 13));
}

float bfloat16_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_bfloat16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  // Adding 0x7fff plus the lowest kept bit rounds to nearest with ties to even. A carry into the
  // exponent gives the correct result, up to infinity.
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t float_to_half_saturating(float value, bool& saturated) {
  saturated = std::isfinite(value) && std::fabs(value) > 65504.0f;
  if (saturated) return static_cast<uint16_t>((std::signbit(value) ? 0x8000u : 0u) | kHalfMaxBits);
  return float_to_half(value);
}

uint16_t float_to_bfloat16_saturating(float value, bool& saturated) {
  saturated = std::isfinite(value) && std::fabs(value) > bfloat16_to_float(kBfloat16MaxBits);
  if (saturated) return static_cast<uint16_t>((std::signbit(value) ? 0x8000u : 0u) | kBfloat16MaxBits);
  return float_to_bfloat16(value);
}

}  // namespace onnxquant::kernels
