#include "io/tensor_file.hpp"

#include <cstring>
#include <fmt/format.h>
#include <fstream>

#include "eval/tensor.hpp"
#include "io/external_data.hpp"
#include "io/npy_file.hpp"
#include "io/tensor_validation.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant::io {
namespace fs = std::filesystem;
using onnx::TensorProto;

namespace {

std::string read_input_file(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path, error)) throw IoError(fmt::format("input file '{}' not found", path.string()));
  if (fs::is_directory(path, error)) {
    throw IoError(fmt::format("input file '{}' is a folder; give a .npy or .pb file", path.string()));
  }
  const uint64_t size = fs::file_size(path, error);
  if (error) throw IoError(fmt::format("cannot read input file '{}': {}", path.string(), error.message()));

  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw IoError(fmt::format("cannot open input file '{}': {}", path.string(), std::strerror(errno)));
  std::string bytes(size, '\0');
  stream.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!stream) throw IoError(fmt::format("cannot read input file '{}'", path.string()));
  return bytes;
}

TensorProto parse_tensor_proto(const std::string& bytes, std::string_view source) {
  if (bytes.size() > kProtobufLimitBytes) {
    throw UsageError(fmt::format("input file '{}' is {} bytes, above protobuf's 2 GiB limit; use a .npy file",
                                 source, bytes.size()));
  }
  TensorProto proto;
  if (!proto.ParseFromString(bytes) || !proto.has_data_type()) {
    throw UsageError(fmt::format("input file '{}' is neither a .npy file nor a serialized ONNX TensorProto", source));
  }
  return proto;
}

}  // namespace

eval::Tensor tensor_from_proto(const TensorProto& proto, std::string_view source) {
  if (is_external(proto)) {
    throw UsageError(fmt::format("input file '{}' refers to external data, which input files cannot use", source));
  }
  try {
    // validate_tensor checks the stored data against the shape before anything is allocated.
    validate_tensor(proto);
    return eval::tensor_from_proto(proto);
  } catch (const ModelError& error) {
    throw UsageError(fmt::format("input file '{}' is not a valid tensor: {}", source, error.what()));
  }
}

eval::Tensor parse_tensor_file(const std::string& bytes, std::string_view source) {
  if (bytes.starts_with("\x93NUMPY")) return parse_npy(bytes, source);
  return tensor_from_proto(parse_tensor_proto(bytes, source), source);
}

eval::Tensor read_tensor_file(const fs::path& path) { return parse_tensor_file(read_input_file(path), path.string()); }

}  // namespace onnxquant::io
