// Element types, sizes and float views of TensorProto data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::io {

class TensorStore;

// Bytes per element, or 0 for types without a fixed size (string, undefined) and sub-byte types.
uint64_t element_size(int32_t data_type);
std::string dtype_name(int32_t data_type);

// Product of the dimensions. Throws ModelError on a negative dimension or an overflow.
uint64_t element_count(const onnx::TensorProto& tensor);

// Element count times element size; 0 when the type has no fixed size.
uint64_t tensor_bytes(const onnx::TensorProto& tensor);

bool is_float_type(int32_t data_type);

// Reads a float, float16, bfloat16 or double tensor stored inline as float32 values. Throws
// ModelError when the stored data does not match the shape.
std::vector<float> read_float_values(const onnx::TensorProto& tensor);
// The same for a tensor stored inline or in an external file of `store`, which is mapped only
// while it is converted.
std::vector<float> read_float_values(const onnx::TensorProto& tensor, const TensorStore& store);

// Replaces the data of a tensor, wherever it was stored, with `bytes` in raw_data.
void set_raw_data(onnx::TensorProto& tensor, std::span<const uint8_t> bytes);

onnx::TensorProto make_tensor(const std::string& name, int32_t data_type, const std::vector<int64_t>& dims,
                              std::span<const uint8_t> raw_data);
onnx::TensorProto make_float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                    std::span<const float> values);
onnx::TensorProto make_float16_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                      std::span<const float> values);

std::vector<int64_t> dims_of(const onnx::TensorProto& tensor);
std::string format_shape(const std::vector<int64_t>& dims);

}  // namespace onnxquant::io
