// Conversions between dense tensors of any numeric ONNX element type and double values.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "eval/tensor.hpp"

namespace onnxquant::compare {

// bool, the signed and unsigned integers of 8 to 64 bits, float16, bfloat16, float32 and float64.
bool is_numeric_type(int32_t dtype);

// The values of a numeric tensor; bool is 0 or 1. Integers beyond 2^53 lose precision. Throws
// std::invalid_argument for other element types.
std::vector<double> to_doubles(const eval::Tensor& tensor);

// A tensor of a numeric type with the given values, rounded to nearest for float types and
// converted with static_cast for integer types (the values must be in the type's range).
eval::Tensor from_doubles(int32_t dtype, const std::vector<int64_t>& shape, std::span<const double> values);

}  // namespace onnxquant::compare
