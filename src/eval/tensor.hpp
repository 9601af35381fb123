// Dense tensors for the reference evaluator: an ONNX element type, a shape and the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::eval {

// Element types that onnx 1.16 added to TensorProto.DataType; libonnx 1.12's enum lacks them.
inline constexpr int32_t kUint4 = 21;
inline constexpr int32_t kInt4 = 22;

struct Tensor {
  int32_t dtype = 0;            // onnx::TensorProto_DataType, or kUint4 / kInt4
  std::vector<int64_t> shape;   // empty for a scalar
  // Row-major, little-endian. One byte per element for bool (0 or 1) and for int4 and uint4, which
  // the evaluator keeps unpacked with the value sign-extended (int4) or zero-extended (uint4).
  std::vector<std::byte> data;

  uint64_t element_count() const;

  template <typename T>
  std::span<T> values() {
    return {reinterpret_cast<T*>(data.data()), data.size() / sizeof(T)};
  }
  template <typename T>
  std::span<const T> values() const {
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
};

// Bytes per element in Tensor::data, or 0 for element types the evaluator does not store
// (string, complex, float8).
uint64_t stored_element_size(int32_t dtype);

// "float32", "int4", ...
std::string dtype_name(int32_t dtype);

// "float32 [2, 3]"
std::string describe(const Tensor& tensor);

// Product of the dimensions. Throws ModelError on a negative dimension or an overflow.
uint64_t shape_element_count(std::span<const int64_t> shape);

// A zero-filled tensor. Throws ModelError for an element type without storage or a shape whose
// size overflows.
Tensor make_tensor(int32_t dtype, std::vector<int64_t> shape);

template <typename T>
Tensor make_tensor(int32_t dtype, std::vector<int64_t> shape, std::span<const T> values) {
  Tensor tensor = make_tensor(dtype, std::move(shape));
  auto target = tensor.values<T>();
  for (size_t i = 0; i < target.size() && i < values.size(); ++i) target[i] = values[i];
  return tensor;
}

// Reads a TensorProto's data (raw_data or the typed fields). Throws ModelError when the data does
// not match the shape, when the tensor is stored externally and was not loaded (load the model
// with external data first), or for an element type the evaluator does not store.
Tensor tensor_from_proto(const onnx::TensorProto& proto);

// Writes `tensor` as raw_data; int4 and uint4 are packed two per byte, element 0 in the low nibble.
onnx::TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name);

}  // namespace onnxquant::eval
