// IEEE 754 binary16 and bfloat16 conversions, bit-exact and independent of the CPU's F16C support.
#pragma once

#include <cstdint>

namespace onnxquant::kernels {

// Converts with round to nearest, ties to even. Values beyond the float16 range become infinity,
// NaN stays NaN (quiet) and subnormal results are kept as float16 subnormals.
uint16_t float_to_half(float value);
float half_to_float(uint16_t bits);

float bfloat16_to_float(uint16_t bits);

}  // namespace onnxquant::kernels
