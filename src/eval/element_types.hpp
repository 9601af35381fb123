// C++ types for ONNX element types, and dispatch from a runtime element type to a template.
#pragma once

#include <cstdint>
#include <fmt/format.h>
#include <limits>
#include <type_traits>

#include <onnx/onnx_pb.h>

#include "eval/kernel.hpp"
#include "eval/tensor.hpp"
#include "kernels/float16.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

// 16-bit floats are stored as their bits; arithmetic converts them to float32 and back.
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

template <typename T>
inline constexpr bool is_16bit_float = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

template <typename T>
inline constexpr bool is_float_element = std::is_floating_point_v<T> || is_16bit_float<T>;

// The type arithmetic on T happens in: float32 for the 16-bit floats, T itself otherwise.
template <typename T>
using ComputeType = std::conditional_t<is_16bit_float<T>, float, T>;

template <typename T>
inline ComputeType<T> load(T value) {
  if constexpr (std::is_same_v<T, Float16>) {
    return kernels::half_to_float(value.bits);
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return kernels::bfloat16_to_float(value.bits);
  } else {
    return value;
  }
}

// Converts a computed value back to T, rounding to nearest even for the 16-bit floats.
template <typename T>
inline T store(ComputeType<T> value) {
  if constexpr (std::is_same_v<T, Float16>) {
    return Float16{kernels::float_to_half(value)};
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return BFloat16{kernels::float_to_bfloat16(value)};
  } else {
    return value;
  }
}

// The largest and the lowest finite values of T, which ONNX Runtime uses as the default Clip bounds
// and as the start of a maximum.
template <typename T>
inline ComputeType<T> largest_finite() {
  if constexpr (std::is_same_v<T, Float16>) {
    return 65504.0f;
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return 3.38953139e38f;  // bits 0x7F7F
  } else {
    return std::numeric_limits<T>::max();
  }
}

template <typename T>
inline ComputeType<T> lowest_finite() {
  if constexpr (is_16bit_float<T>) {
    return -largest_finite<T>();
  } else {
    return std::numeric_limits<T>::lowest();
  }
}

template <typename T>
inline float to_float(T value) {
  return static_cast<float>(load(value));
}

// The ONNX element type of T.
template <typename T>
constexpr int32_t dtype_of() {
  using onnx::TensorProto;
  if constexpr (std::is_same_v<T, float>) return TensorProto::FLOAT;
  if constexpr (std::is_same_v<T, double>) return TensorProto::DOUBLE;
  if constexpr (std::is_same_v<T, Float16>) return TensorProto::FLOAT16;
  if constexpr (std::is_same_v<T, BFloat16>) return TensorProto::BFLOAT16;
  if constexpr (std::is_same_v<T, int8_t>) return TensorProto::INT8;
  if constexpr (std::is_same_v<T, uint8_t>) return TensorProto::UINT8;
  if constexpr (std::is_same_v<T, int16_t>) return TensorProto::INT16;
  if constexpr (std::is_same_v<T, uint16_t>) return TensorProto::UINT16;
  if constexpr (std::is_same_v<T, int32_t>) return TensorProto::INT32;
  if constexpr (std::is_same_v<T, uint32_t>) return TensorProto::UINT32;
  if constexpr (std::is_same_v<T, int64_t>) return TensorProto::INT64;
  if constexpr (std::is_same_v<T, uint64_t>) return TensorProto::UINT64;
  if constexpr (std::is_same_v<T, bool>) return TensorProto::BOOL;
  return TensorProto::UNDEFINED;
}

[[noreturn]] inline void throw_unsupported_dtype(int32_t dtype, const char* role) {
  throw NotSupported(fmt::format("element type {} of {} is not supported", dtype_name(dtype), role));
}

// Sets of element types that a kernel accepts. Each calls visitor(T{}) for the C++ type of
// `dtype`, and throws ModelError naming `role` for a type outside the set.
enum class TypeSet { kFloat, kSigned, kNumeric, kAll };

template <TypeSet set, typename Visitor>
decltype(auto) visit_dtype(int32_t dtype, const char* role, Visitor&& visitor) {
  using onnx::TensorProto;
  constexpr bool all = set == TypeSet::kAll;
  constexpr bool numeric = all || set == TypeSet::kNumeric;
  constexpr bool signed_types = numeric || set == TypeSet::kSigned;
  switch (dtype) {
    case TensorProto::FLOAT: return visitor(float{});
    case TensorProto::DOUBLE: return visitor(double{});
    case TensorProto::FLOAT16: return visitor(Float16{});
    case TensorProto::BFLOAT16: return visitor(BFloat16{});
    default: break;
  }
  if constexpr (signed_types) {
    switch (dtype) {
      case TensorProto::INT8: return visitor(int8_t{});
      case TensorProto::INT16: return visitor(int16_t{});
      case TensorProto::INT32: return visitor(int32_t{});
      case TensorProto::INT64: return visitor(int64_t{});
      default: break;
    }
  }
  if constexpr (numeric) {
    switch (dtype) {
      case TensorProto::UINT8: return visitor(uint8_t{});
      case TensorProto::UINT16: return visitor(uint16_t{});
      case TensorProto::UINT32: return visitor(uint32_t{});
      case TensorProto::UINT64: return visitor(uint64_t{});
      default: break;
    }
  }
  if constexpr (all) {
    if (dtype == TensorProto::BOOL) return visitor(bool{});
  }
  throw_unsupported_dtype(dtype, role);
}

// Calls visitor with the element size's unsigned integer type: for kernels that only move
// elements (Transpose, Gather, Concat), which need no arithmetic.
template <typename Visitor>
decltype(auto) visit_by_size(int32_t dtype, const char* role, Visitor&& visitor) {
  switch (stored_element_size(dtype)) {
    case 1: return visitor(uint8_t{});
    case 2: return visitor(uint16_t{});
    case 4: return visitor(uint32_t{});
    case 8: return visitor(uint64_t{});
    default: throw_unsupported_dtype(dtype, role);
  }
}

}  // namespace onnxquant::eval
