#include "eval/tensor.hpp"

#include <cstring>
#include <fmt/format.h>

#include "io/external_data.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

using onnx::TensorProto;

uint64_t Tensor::element_count() const { return shape_element_count(shape); }

uint64_t stored_element_size(int32_t dtype) {
  if (dtype == kInt4 || dtype == kUint4) return 1;
  if (dtype == TensorProto::COMPLEX64 || dtype == TensorProto::COMPLEX128) return 0;
  return io::element_size(dtype);
}

std::string dtype_name(int32_t dtype) {
  if (dtype == kInt4) return "int4";
  if (dtype == kUint4) return "uint4";
  return io::dtype_name(dtype);
}

std::string describe(const Tensor& tensor) {
  return fmt::format("{} {}", dtype_name(tensor.dtype), io::format_shape(tensor.shape));
}

uint64_t shape_element_count(std::span<const int64_t> shape) {
  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) throw ModelError(fmt::format("shape {} has a negative dimension", io::format_shape({shape.begin(), shape.end()})));
    if (dim != 0 && count > UINT64_MAX / static_cast<uint64_t>(dim)) {
      throw ModelError(fmt::format("the element count of shape {} overflows", io::format_shape({shape.begin(), shape.end()})));
    }
    count *= static_cast<uint64_t>(dim);
  }
  return count;
}

Tensor make_tensor(int32_t dtype, std::vector<int64_t> shape) {
  const uint64_t size = stored_element_size(dtype);
  if (size == 0) throw ModelError(fmt::format("element type {} is not supported by the evaluator", dtype_name(dtype)));
  const uint64_t count = shape_element_count(shape);
  // Tensors above 2^40 bytes cannot exist on this machine class; reject before the allocation.
  constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;
  if (count > kMaxTensorBytes / size) {
    throw ModelError(fmt::format("a {} tensor of shape {} is too large to allocate", dtype_name(dtype),
                                 io::format_shape(shape)));
  }
  Tensor tensor;
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.data.resize(count * size);
  return tensor;
}

namespace {

[[noreturn]] void throw_data_mismatch(const TensorProto& proto, uint64_t expected, uint64_t found) {
  throw ModelError(fmt::format("tensor {} ({} {}) has {} values but its shape needs {}", io::quoted_name(proto.name()),
                               dtype_name(proto.data_type()), io::format_shape(io::dims_of(proto)), found, expected));
}

// Copies a repeated typed field into elements of type T, converting each value.
template <typename T, typename Field>
void copy_field(const TensorProto& proto, const Field& field, uint64_t count, Tensor& tensor) {
  if (static_cast<uint64_t>(field.size()) != count) throw_data_mismatch(proto, count, field.size());
  auto target = tensor.values<T>();
  for (uint64_t i = 0; i < count; ++i) target[i] = static_cast<T>(field[static_cast<int>(i)]);
}

// Unpacks 4-bit elements, two per byte with element 0 in the low nibble.
void unpack_int4(const TensorProto& proto, const uint8_t* packed, uint64_t packed_size, uint64_t count, Tensor& tensor) {
  if (packed_size != (count + 1) / 2) throw_data_mismatch(proto, count, packed_size * 2);
  const bool is_signed = proto.data_type() == kInt4;
  auto target = tensor.values<uint8_t>();
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t nibble = (packed[i / 2] >> ((i % 2) * 4)) & 0x0f;
    if (is_signed && (nibble & 0x08)) nibble |= 0xf0;
    target[i] = nibble;
  }
}

void read_typed_fields(const TensorProto& proto, uint64_t count, Tensor& tensor) {
  switch (proto.data_type()) {
    case TensorProto::FLOAT: return copy_field<float>(proto, proto.float_data(), count, tensor);
    case TensorProto::DOUBLE: return copy_field<double>(proto, proto.double_data(), count, tensor);
    case TensorProto::INT64: return copy_field<int64_t>(proto, proto.int64_data(), count, tensor);
    case TensorProto::UINT32:
    case TensorProto::UINT64:
      if (proto.data_type() == TensorProto::UINT32) return copy_field<uint32_t>(proto, proto.uint64_data(), count, tensor);
      return copy_field<uint64_t>(proto, proto.uint64_data(), count, tensor);
    case TensorProto::INT32: return copy_field<int32_t>(proto, proto.int32_data(), count, tensor);
    case TensorProto::INT16: return copy_field<int16_t>(proto, proto.int32_data(), count, tensor);
    case TensorProto::UINT16:
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: return copy_field<uint16_t>(proto, proto.int32_data(), count, tensor);
    case TensorProto::INT8: return copy_field<int8_t>(proto, proto.int32_data(), count, tensor);
    case TensorProto::UINT8: return copy_field<uint8_t>(proto, proto.int32_data(), count, tensor);
    case TensorProto::BOOL: {
      if (static_cast<uint64_t>(proto.int32_data_size()) != count) throw_data_mismatch(proto, count, proto.int32_data_size());
      auto target = tensor.values<uint8_t>();
      for (uint64_t i = 0; i < count; ++i) target[i] = proto.int32_data(static_cast<int>(i)) != 0 ? 1 : 0;
      return;
    }
    case kInt4:
    case kUint4: {
      // Without raw_data, int4 and uint4 are packed two per int32_data entry.
      std::vector<uint8_t> packed(static_cast<size_t>(proto.int32_data_size()));
      for (size_t i = 0; i < packed.size(); ++i) packed[i] = static_cast<uint8_t>(proto.int32_data(static_cast<int>(i)));
      return unpack_int4(proto, packed.data(), packed.size(), count, tensor);
    }
    default: throw ModelError(fmt::format("tensor {} has element type {}, which the evaluator does not support",
                                          io::quoted_name(proto.name()), dtype_name(proto.data_type())));
  }
}

}  // namespace

Tensor tensor_from_proto(const TensorProto& proto) {
  if (io::is_external(proto)) {
    throw ModelError(fmt::format("tensor {} is stored externally and was not loaded; load the model with its external "
                                 "data",
                                 io::quoted_name(proto.name())));
  }
  if (proto.segment().begin() != 0 || proto.segment().end() != 0) {
    throw ModelError(fmt::format("tensor {} is split into segments, which the evaluator does not support",
                                 io::quoted_name(proto.name())));
  }
  if (stored_element_size(proto.data_type()) == 0) {
    throw ModelError(fmt::format("tensor {} has element type {}, which the evaluator does not support",
                                 io::quoted_name(proto.name()), dtype_name(proto.data_type())));
  }
  Tensor tensor = make_tensor(proto.data_type(), io::dims_of(proto));
  const uint64_t count = tensor.element_count();
  if (!proto.has_raw_data()) {
    read_typed_fields(proto, count, tensor);
    return tensor;
  }

  const std::string& raw = proto.raw_data();
  const auto* bytes = reinterpret_cast<const uint8_t*>(raw.data());
  if (proto.data_type() == kInt4 || proto.data_type() == kUint4) {
    unpack_int4(proto, bytes, raw.size(), count, tensor);
  } else if (raw.size() != tensor.data.size()) {
    throw_data_mismatch(proto, count, raw.size() / stored_element_size(proto.data_type()));
  } else if (proto.data_type() == TensorProto::BOOL) {
    auto target = tensor.values<uint8_t>();
    for (uint64_t i = 0; i < count; ++i) target[i] = bytes[i] != 0 ? 1 : 0;
  } else if (!raw.empty()) {
    std::memcpy(tensor.data.data(), raw.data(), raw.size());
  }
  return tensor;
}

TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name) {
  TensorProto proto;
  proto.set_name(name);
  proto.set_data_type(tensor.dtype);
  for (int64_t dim : tensor.shape) proto.add_dims(dim);
  if (tensor.dtype == kInt4 || tensor.dtype == kUint4) {
    const auto values = tensor.values<uint8_t>();
    std::string packed((values.size() + 1) / 2, '\0');
    for (size_t i = 0; i < values.size(); ++i) {
      packed[i / 2] = static_cast<char>(static_cast<uint8_t>(packed[i / 2]) | ((values[i] & 0x0f) << ((i % 2) * 4)));
    }
    proto.set_raw_data(std::move(packed));
  } else {
    proto.set_raw_data(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size());
  }
  return proto;
}

}  // namespace onnxquant::eval
