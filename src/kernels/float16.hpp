// IEEE 754 binary16 and bfloat16 conversions, bit-exact and independent of the CPU's F16C support.
#pragma once

#include <cstdint>
#include <span>

namespace onnxquant::kernels {

// Converts with round to nearest, ties to even. Values beyond the float16 range become infinity,
// NaN stays NaN (quiet) and subnormal results are kept as float16 subnormals.
uint16_t float_to_half(float value);
float half_to_float(uint16_t bits);

float bfloat16_to_float(uint16_t bits);
// Converts with round to nearest, ties to even; NaN stays NaN (quiet) and infinities pass through.
uint16_t float_to_bfloat16(float value);

// Conversions for storing weights: a finite value beyond the largest finite value of the target
// type becomes that value with its sign, and `saturated` is set. NaN and infinities pass through.
uint16_t float_to_half_saturating(float value, bool& saturated);
uint16_t float_to_bfloat16_saturating(float value, bool& saturated);

inline constexpr uint16_t kHalfMaxBits = 0x7bff;      // 65504
inline constexpr uint16_t kBfloat16MaxBits = 0x7f7f;  // about 3.3895e38

// Whole-tensor conversions with the vector primitives (F16C and AVX2 where the CPU has them) on
// `threads` threads. Every element equals what the scalar function above returns for it; the
// output has the size of the input. The saturating ones return the count of saturated values.
void convert_float_to_half(std::span<const float> values, std::span<uint16_t> output, int threads = 1);
uint64_t convert_float_to_half_saturating(std::span<const float> values, std::span<uint16_t> output,
                                          int threads = 1);
void convert_half_to_float(std::span<const uint16_t> bits, std::span<float> output, int threads = 1);
void convert_float_to_bfloat16(std::span<const float> values, std::span<uint16_t> output, int threads = 1);
uint64_t convert_float_to_bfloat16_saturating(std::span<const float> values, std::span<uint16_t> output,
                                              int threads = 1);
void convert_bfloat16_to_float(std::span<const uint16_t> bits, std::span<float> output, int threads = 1);

}  // namespace onnxquant::kernels
