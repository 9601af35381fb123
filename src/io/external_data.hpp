// Resolution and reading of tensors stored in external data files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <onnx/onnx_pb.h>

namespace onnxquant::io {

struct ExternalDataLocation {
  std::string location;
  uint64_t offset = 0;
  bool has_length = false;
  uint64_t length = 0;
};

bool is_external(const onnx::TensorProto& tensor);

// Parses the external_data entries of a tensor. Throws ModelError on a missing location or an
// offset or length that is not a non-negative integer.
ExternalDataLocation parse_external_data(const onnx::TensorProto& tensor);

// Resolves a location against the model folder, rejecting absolute paths, "..", links and paths
// that leave the folder. Returns the canonical path of the data file.
std::filesystem::path resolve_external_file(const std::filesystem::path& model_folder, const std::string& location);

}  // namespace onnxquant::io
