// Input tensors in files: NumPy .npy files and serialized ONNX TensorProto (.pb) files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <onnx/onnx_pb.h>

#include "eval/tensor.hpp"

namespace onnxquant::io {

// Reads a .npy file (recognized by its magic string, whatever its name) or an ONNX TensorProto.
// Throws IoError when the file is missing or unreadable and UsageError when its content is invalid
// (see parse_npy and tensor_from_proto).
eval::Tensor read_tensor_file(const std::filesystem::path& path);

// Parses the bytes of an input file as read_tensor_file does. `source` names the file in messages.
eval::Tensor parse_tensor_file(const std::string& bytes, std::string_view source);

// Copies the data of a TensorProto stored inline (raw_data or a typed field) into a dense tensor.
// Throws UsageError, naming `source`, for a tensor whose data does not match its shape, data in
// an external file, and element types that the evaluator does not store (string, complex).
eval::Tensor tensor_from_proto(const onnx::TensorProto& proto, std::string_view source);

}  // namespace onnxquant::io
