#include "io/tensor_validation.hpp"

#include <array>
#include <fmt/format.h>
#include <string_view>

#include "io/external_data.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::io {
namespace {

using onnx::TensorProto;

// Element types that ONNX added after the version onnxquant links (libonnx 1.12), so they have no
// TensorProto enumerator there.
constexpr int32_t kFloat8E4M3FN = 17;
constexpr int32_t kFloat8E5M2FNUZ = 20;
constexpr int32_t kUint4 = 21;
constexpr int32_t kInt4 = 22;

enum class Field { kFloat, kDouble, kInt32, kInt64, kUint64, kString, kUnknown };

constexpr std::array<std::string_view, 6> kFieldNames = {"float_data", "double_data", "int32_data",
                                                         "int64_data", "uint64_data", "string_data"};

// Returns the typed field in which a tensor of `data_type` stores its values when it does not use
// raw_data (onnx.proto, TensorProto).
Field field_for(int32_t data_type) {
  switch (data_type) {
    case TensorProto::FLOAT:
    case TensorProto::COMPLEX64:
      return Field::kFloat;
    case TensorProto::DOUBLE:
    case TensorProto::COMPLEX128:
      return Field::kDouble;
    case TensorProto::INT64:
      return Field::kInt64;
    case TensorProto::UINT32:
    case TensorProto::UINT64:
      return Field::kUint64;
    case TensorProto::STRING:
      return Field::kString;
    case TensorProto::INT32:
    case TensorProto::INT16:
    case TensorProto::INT8:
    case TensorProto::UINT16:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16:
      return Field::kInt32;
    default:
      if (data_type >= kFloat8E4M3FN && data_type <= kInt4) return Field::kInt32;
      return Field::kUnknown;
  }
}

uint64_t field_size(const TensorProto& tensor, Field field) {
  switch (field) {
    case Field::kFloat: return static_cast<uint64_t>(tensor.float_data_size());
    case Field::kDouble: return static_cast<uint64_t>(tensor.double_data_size());
    case Field::kInt32: return static_cast<uint64_t>(tensor.int32_data_size());
    case Field::kInt64: return static_cast<uint64_t>(tensor.int64_data_size());
    case Field::kUint64: return static_cast<uint64_t>(tensor.uint64_data_size());
    case Field::kString: return static_cast<uint64_t>(tensor.string_data_size());
    case Field::kUnknown: return 0;
  }
  return 0;
}

bool is_packed_4bit(int32_t data_type) { return data_type == kUint4 || data_type == kInt4; }

// Number of entries of the typed field, or bytes of raw_data, that `count` elements need.
uint64_t stored_units(const TensorProto& tensor, uint64_t count, bool raw) {
  const int32_t type = tensor.data_type();
  if (is_packed_4bit(type)) return count / 2 + count % 2;
  if (raw) {
    if (type >= kFloat8E4M3FN && type <= kFloat8E5M2FNUZ) return count;
    return tensor_bytes(tensor);
  }
  const bool complex = type == TensorProto::COMPLEX64 || type == TensorProto::COMPLEX128;
  if (complex && count > UINT64_MAX / 2) {
    throw ModelError(fmt::format("tensor {}: its number of values overflows", quoted_name(tensor.name())));
  }
  return complex ? 2 * count : count;
}

std::string describe(const TensorProto& tensor) {
  return fmt::format("tensor {} ({}, shape {})", quoted_name(tensor.name()), dtype_name(tensor.data_type()),
                     format_shape(dims_of(tensor)));
}

// Throws when a typed field other than `expected` contains data.
void reject_other_fields(const TensorProto& tensor, Field expected, bool raw) {
  for (size_t i = 0; i < kFieldNames.size(); ++i) {
    const auto field = static_cast<Field>(i);
    if (field == expected || field_size(tensor, field) == 0) continue;
    if (raw) {
      throw ModelError(fmt::format("{} stores its data in both raw_data and {}; a tensor uses one of them",
                                   describe(tensor), kFieldNames[i]));
    }
    throw ModelError(fmt::format("{} stores data in {}, which {} tensors do not use", describe(tensor),
                                 kFieldNames[i], dtype_name(tensor.data_type())));
  }
}

void validate_external_length(const TensorProto& tensor) {
  const ExternalDataLocation location = parse_external_data(tensor);
  const uint64_t expected = tensor_bytes(tensor);
  if (location.has_length && element_size(tensor.data_type()) != 0 && location.length != expected) {
    throw ModelError(fmt::format("{}: external data length {} does not match its shape, which needs {} bytes",
                                 describe(tensor), location.length, expected));
  }
}

}  // namespace

void validate_tensor(const TensorProto& tensor) {
  const uint64_t count = element_count(tensor);
  if (is_external(tensor)) {
    validate_external_length(tensor);
    return;
  }
  if (tensor.data_type() == TensorProto::UNDEFINED) {
    throw ModelError(fmt::format("tensor {} has no element type (data_type 0, UNDEFINED)", quoted_name(tensor.name())));
  }
  const Field field = field_for(tensor.data_type());
  // NOTE: element types that this table does not know (newer than ONNX 1.16) are not size-checked.
  if (field == Field::kUnknown) return;

  const bool raw = tensor.has_raw_data();
  if (raw && field == Field::kString) {
    throw ModelError(fmt::format("{} stores strings in raw_data; string tensors use string_data", describe(tensor)));
  }
  reject_other_fields(tensor, raw ? Field::kUnknown : field, raw);

  const uint64_t expected = stored_units(tensor, count, raw);
  const uint64_t found = raw ? tensor.raw_data().size() : field_size(tensor, field);
  if (found != expected) {
    const std::string where =
        raw ? std::string("bytes of raw_data") : fmt::format("values in {}", kFieldNames[static_cast<size_t>(field)]);
    throw ModelError(fmt::format("{} stores {} {} but its shape needs {}{}", describe(tensor), found, where, expected,
                                 raw ? " bytes" : ""));
  }
}

}  // namespace onnxquant::io
