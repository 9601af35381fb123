#include "io/tensor_data.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <fmt/format.h>

#include "io/external_data.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_store.hpp"
#include "kernels/float16.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::io {

using onnx::TensorProto;

uint64_t element_size(int32_t data_type) {
  switch (data_type) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
    case TensorProto::UINT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
    case TensorProto::UINT64:
    case TensorProto::COMPLEX64:
      return 8;
    case TensorProto::COMPLEX128:
      return 16;
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16:
    case TensorProto::INT16:
    case TensorProto::UINT16:
      return 2;
    case TensorProto::INT8:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      return 1;
    default:
      return 0;
  }
}

std::string dtype_name(int32_t data_type) {
  switch (data_type) {
    case TensorProto::FLOAT: return "float32";
    case TensorProto::FLOAT16: return "float16";
    case TensorProto::BFLOAT16: return "bfloat16";
    case TensorProto::DOUBLE: return "float64";
    case TensorProto::INT8: return "int8";
    case TensorProto::UINT8: return "uint8";
    case TensorProto::INT16: return "int16";
    case TensorProto::UINT16: return "uint16";
    case TensorProto::INT32: return "int32";
    case TensorProto::UINT32: return "uint32";
    case TensorProto::INT64: return "int64";
    case TensorProto::UINT64: return "uint64";
    case TensorProto::BOOL: return "bool";
    case TensorProto::STRING: return "string";
    case TensorProto::COMPLEX64: return "complex64";
    case TensorProto::COMPLEX128: return "complex128";
    default: return fmt::format("type {}", data_type);
  }
}

uint64_t element_count(const TensorProto& tensor) {
  uint64_t count = 1;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0) throw ModelError(fmt::format("tensor {} has a negative dimension {}", quoted_name(tensor.name()), dim));
    if (dim != 0 && count > UINT64_MAX / static_cast<uint64_t>(dim)) {
      throw ModelError(fmt::format("tensor {}: the product of its dimensions overflows", quoted_name(tensor.name())));
    }
    count *= static_cast<uint64_t>(dim);
  }
  return count;
}

uint64_t tensor_bytes(const TensorProto& tensor) {
  const uint64_t count = element_count(tensor);
  const uint64_t size = element_size(tensor.data_type());
  if (size != 0 && count > UINT64_MAX / size) {
    throw ModelError(fmt::format("tensor {}: its size in bytes overflows", quoted_name(tensor.name())));
  }
  return count * size;
}

bool is_float_type(int32_t data_type) {
  return data_type == TensorProto::FLOAT || data_type == TensorProto::FLOAT16 ||
         data_type == TensorProto::BFLOAT16 || data_type == TensorProto::DOUBLE;
}

namespace {

[[noreturn]] void throw_size_mismatch(const TensorProto& tensor, uint64_t expected, uint64_t found) {
  throw ModelError(fmt::format("tensor {} ({}, shape {}) has {} values but its shape needs {}", quoted_name(tensor.name()),
                               dtype_name(tensor.data_type()), format_shape(dims_of(tensor)), found, expected));
}

template <typename Stored, typename Convert>
std::vector<float> convert_raw(const TensorProto& tensor, std::span<const uint8_t> raw, uint64_t count,
                               Convert convert) {
  if (raw.size() != count * sizeof(Stored)) throw_size_mismatch(tensor, count, raw.size() / sizeof(Stored));
  std::vector<float> values(count);
  for (uint64_t i = 0; i < count; ++i) {
    Stored stored;
    std::memcpy(&stored, raw.data() + i * sizeof(Stored), sizeof(Stored));
    values[i] = convert(stored);
  }
  return values;
}

// Converts a tensor whose data is `raw` (raw_data or an external range) or a typed field.
std::vector<float> convert_values(const TensorProto& tensor, bool has_raw, std::span<const uint8_t> raw) {
  const uint64_t count = element_count(tensor);
  switch (tensor.data_type()) {
    case TensorProto::FLOAT:
      if (has_raw) {
        if (raw.size() != count * sizeof(float)) throw_size_mismatch(tensor, count, raw.size() / sizeof(float));
        std::vector<float> values(count);
        std::memcpy(values.data(), raw.data(), raw.size());
        return values;
      }
      if (static_cast<uint64_t>(tensor.float_data_size()) != count) throw_size_mismatch(tensor, count, tensor.float_data_size());
      return {tensor.float_data().begin(), tensor.float_data().end()};
    case TensorProto::DOUBLE:
      if (has_raw) return convert_raw<double>(tensor, raw, count, [](double x) { return static_cast<float>(x); });
      if (static_cast<uint64_t>(tensor.double_data_size()) != count) throw_size_mismatch(tensor, count, tensor.double_data_size());
      return {tensor.double_data().begin(), tensor.double_data().end()};
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: {
      const bool half = tensor.data_type() == TensorProto::FLOAT16;
      auto convert = [half](uint16_t bits) { return half ? kernels::half_to_float(bits) : kernels::bfloat16_to_float(bits); };
      const bool aligned = reinterpret_cast<std::uintptr_t>(raw.data()) % alignof(uint16_t) == 0;
      if (has_raw && aligned && raw.size() == count * sizeof(uint16_t)) {
        const std::span<const uint16_t> bits(reinterpret_cast<const uint16_t*>(raw.data()), count);
        std::vector<float> values(count);
        if (half) {
          kernels::convert_half_to_float(bits, values);
        } else {
          kernels::convert_bfloat16_to_float(bits, values);
        }
        return values;
      }
      if (has_raw) return convert_raw<uint16_t>(tensor, raw, count, convert);
      // Without raw_data, 16-bit floats are stored one per int32_data entry.
      if (static_cast<uint64_t>(tensor.int32_data_size()) != count) throw_size_mismatch(tensor, count, tensor.int32_data_size());
      std::vector<float> values(count);
      for (uint64_t i = 0; i < count; ++i) values[i] = convert(static_cast<uint16_t>(tensor.int32_data(static_cast<int>(i))));
      return values;
    }
    default:
      throw ModelError(fmt::format("tensor {} has type {}, not a float type", quoted_name(tensor.name()),
                                   dtype_name(tensor.data_type())));
  }
}

}  // namespace

std::vector<float> read_float_values(const TensorProto& tensor) {
  if (is_external(tensor)) {
    throw ModelError(fmt::format("tensor {} is stored externally and was not loaded", quoted_name(tensor.name())));
  }
  const std::string& raw = tensor.raw_data();
  return convert_values(tensor, tensor.has_raw_data(), {reinterpret_cast<const uint8_t*>(raw.data()), raw.size()});
}

std::vector<float> read_float_values(const TensorProto& tensor, const TensorStore& store) {
  if (!is_external(tensor)) return read_float_values(tensor);
  const TensorBytes bytes = store.bytes(tensor);
  return convert_values(tensor, true, bytes.span());
}

FloatValues::FloatValues(std::vector<float> values) : copy_(std::move(values)), view_(copy_) {}

FloatValues::FloatValues(TensorBytes mapped)
    : mapped_(std::make_unique<TensorBytes>(std::move(mapped))),
      view_(reinterpret_cast<const float*>(mapped_->span().data()), mapped_->size() / sizeof(float)) {}

FloatValues::FloatValues(FloatValues&&) noexcept = default;
FloatValues& FloatValues::operator=(FloatValues&&) noexcept = default;
FloatValues::~FloatValues() = default;

FloatValues read_float_view(const TensorProto& tensor, const TensorStore& store) {
  if (tensor.data_type() == TensorProto::FLOAT && is_external(tensor)) {
    TensorBytes bytes = store.bytes(tensor);
    const uint64_t count = element_count(tensor);
    if (bytes.size() != count * sizeof(float)) throw_size_mismatch(tensor, count, bytes.size() / sizeof(float));
    if (reinterpret_cast<std::uintptr_t>(bytes.span().data()) % alignof(float) == 0) {
      return FloatValues(std::move(bytes));
    }
  }
  return FloatValues(read_float_values(tensor, store));
}

void for_each_float_run(const TensorProto& tensor, const TensorStore& store, uint64_t run_values,
                        const std::function<void(std::span<const float>)>& consume) {
  assert(run_values > 0);
  const FloatValues values = read_float_view(tensor, store);
  const std::span<const float> all = values;
  for (size_t begin = 0; begin < all.size(); begin += run_values) {
    consume(all.subspan(begin, std::min<size_t>(run_values, all.size() - begin)));
  }
}

void set_raw_data(TensorProto& tensor, std::span<const uint8_t> bytes) {
  tensor.clear_float_data();
  tensor.clear_int32_data();
  tensor.clear_double_data();
  tensor.clear_external_data();
  tensor.clear_data_location();
  tensor.set_raw_data(bytes.data(), bytes.size());
}

TensorProto make_tensor(const std::string& name, int32_t data_type, const std::vector<int64_t>& dims,
                        std::span<const uint8_t> raw_data) {
  TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(data_type);
  for (int64_t dim : dims) tensor.add_dims(dim);
  tensor.set_raw_data(raw_data.data(), raw_data.size());
  return tensor;
}

TensorProto make_float_tensor(const std::string& name, const std::vector<int64_t>& dims, std::span<const float> values) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(values.data());
  return make_tensor(name, TensorProto::FLOAT, dims, {bytes, values.size() * sizeof(float)});
}

TensorProto make_float16_tensor(const std::string& name, const std::vector<int64_t>& dims, std::span<const float> values) {
  std::vector<uint16_t> halves(values.size());
  for (size_t i = 0; i < values.size(); ++i) halves[i] = kernels::float_to_half(values[i]);
  const auto* bytes = reinterpret_cast<const uint8_t*>(halves.data());
  return make_tensor(name, TensorProto::FLOAT16, dims, {bytes, halves.size() * sizeof(uint16_t)});
}

std::vector<int64_t> dims_of(const TensorProto& tensor) { return {tensor.dims().begin(), tensor.dims().end()}; }

std::string format_shape(const std::vector<int64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

}  // namespace onnxquant::io
