#include "compare/tensor_values.hpp"

#include <cstring>
#include <onnx/onnx_pb.h>
#include <stdexcept>

#include "io/tensor_data.hpp"
#include "kernels/float16.hpp"

namespace onnxquant::compare {
namespace {

using onnx::TensorProto;

template <typename Stored>
void read_as_doubles(const eval::Tensor& tensor, std::vector<double>& values) {
  const size_t count = tensor.data.size() / sizeof(Stored);
  values.resize(count);
  for (size_t i = 0; i < count; ++i) {
    Stored stored;
    std::memcpy(&stored, tensor.data.data() + i * sizeof(Stored), sizeof(Stored));
    values[i] = static_cast<double>(stored);
  }
}

template <typename Stored>
void write_from_doubles(std::span<const double> values, eval::Tensor& tensor) {
  tensor.data.resize(values.size() * sizeof(Stored));
  for (size_t i = 0; i < values.size(); ++i) {
    const auto stored = static_cast<Stored>(values[i]);
    std::memcpy(tensor.data.data() + i * sizeof(Stored), &stored, sizeof(Stored));
  }
}

void read_16_bit_floats(const eval::Tensor& tensor, std::vector<double>& values) {
  const bool half = tensor.dtype == TensorProto::FLOAT16;
  values.resize(tensor.data.size() / sizeof(uint16_t));
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, tensor.data.data() + i * sizeof(bits), sizeof(bits));
    values[i] = half ? kernels::half_to_float(bits) : kernels::bfloat16_to_float(bits);
  }
}

void write_16_bit_floats(std::span<const double> values, eval::Tensor& tensor) {
  const bool half = tensor.dtype == TensorProto::FLOAT16;
  tensor.data.resize(values.size() * sizeof(uint16_t));
  for (size_t i = 0; i < values.size(); ++i) {
    const auto value = static_cast<float>(values[i]);
    const uint16_t bits = half ? kernels::float_to_half(value) : kernels::float_to_bfloat16(value);
    std::memcpy(tensor.data.data() + i * sizeof(bits), &bits, sizeof(bits));
  }
}

}  // namespace

bool is_numeric_type(int32_t dtype) {
  return dtype == TensorProto::BOOL || io::is_float_type(dtype) ||
         (io::element_size(dtype) > 0 && dtype != TensorProto::COMPLEX64 && dtype != TensorProto::COMPLEX128);
}

std::vector<double> to_doubles(const eval::Tensor& tensor) {
  std::vector<double> values;
  switch (tensor.dtype) {
    case TensorProto::FLOAT: read_as_doubles<float>(tensor, values); break;
    case TensorProto::DOUBLE: read_as_doubles<double>(tensor, values); break;
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: read_16_bit_floats(tensor, values); break;
    case TensorProto::INT8: read_as_doubles<int8_t>(tensor, values); break;
    case TensorProto::UINT8:
    case TensorProto::BOOL: read_as_doubles<uint8_t>(tensor, values); break;
    case TensorProto::INT16: read_as_doubles<int16_t>(tensor, values); break;
    case TensorProto::UINT16: read_as_doubles<uint16_t>(tensor, values); break;
    case TensorProto::INT32: read_as_doubles<int32_t>(tensor, values); break;
    case TensorProto::UINT32: read_as_doubles<uint32_t>(tensor, values); break;
    case TensorProto::INT64: read_as_doubles<int64_t>(tensor, values); break;
    case TensorProto::UINT64: read_as_doubles<uint64_t>(tensor, values); break;
    default: throw std::invalid_argument("element type " + io::dtype_name(tensor.dtype) + " is not numeric");
  }
  return values;
}

eval::Tensor from_doubles(int32_t dtype, const std::vector<int64_t>& shape, std::span<const double> values) {
  eval::Tensor tensor;
  tensor.dtype = dtype;
  tensor.shape = shape;
  switch (dtype) {
    case TensorProto::FLOAT: write_from_doubles<float>(values, tensor); break;
    case TensorProto::DOUBLE: write_from_doubles<double>(values, tensor); break;
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: write_16_bit_floats(values, tensor); break;
    case TensorProto::INT8: write_from_doubles<int8_t>(values, tensor); break;
    case TensorProto::UINT8:
    case TensorProto::BOOL: write_from_doubles<uint8_t>(values, tensor); break;
    case TensorProto::INT16: write_from_doubles<int16_t>(values, tensor); break;
    case TensorProto::UINT16: write_from_doubles<uint16_t>(values, tensor); break;
    case TensorProto::INT32: write_from_doubles<int32_t>(values, tensor); break;
    case TensorProto::UINT32: write_from_doubles<uint32_t>(values, tensor); break;
    case TensorProto::INT64: write_from_doubles<int64_t>(values, tensor); break;
    case TensorProto::UINT64: write_from_doubles<uint64_t>(values, tensor); break;
    default: throw std::invalid_argument("element type " + io::dtype_name(dtype) + " is not numeric");
  }
  return tensor;
}

}  // namespace onnxquant::compare
