#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "graph/graph_walk.hpp"
#include "graph/structure.hpp"
#include "graph/tensor_walk.hpp"
#include "io/atomic_file.hpp"
#include "io/external_data.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "io/tensor_validation.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant {
namespace fs = std::filesystem;

namespace {

std::string read_model_file(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path, error)) throw IoError(fmt::format("model file '{}' not found", path.string()));
  if (fs::is_directory(path, error)) {
    throw IoError(fmt::format("'{}' is a folder; give the path of the .onnx file", path.string()));
  }
  const uint64_t size = fs::file_size(path, error);
  if (error) throw IoError(fmt::format("cannot read '{}': {}", path.string(), error.message()));
  if (size > kProtobufLimitBytes) {
    throw ModelError(fmt::format("'{}' is {} bytes, above protobuf's 2 GiB limit; large models must keep their "
                                 "weights in external data",
                                 path.string(), size));
  }

  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw IoError(fmt::format("cannot open '{}': {}", path.string(), std::strerror(errno)));
  std::string bytes(size, '\0');
  stream.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!stream) throw IoError(fmt::format("cannot read '{}'", path.string()));
  return bytes;
}

// Reads every externally stored tensor into raw_data.
class ExternalDataReader {
 public:
  explicit ExternalDataReader(Model& model) : model_(model), folder_(model.path.parent_path()) {}

  void load(onnx::TensorProto& tensor) {
    const io::ExternalDataLocation location = io::parse_external_data(tensor);
    OpenFile& file = open(location.location);

    const uint64_t expected = io::tensor_bytes(tensor);
    const uint64_t length = location.has_length ? location.length : expected;
    if (location.offset > file.size || length > file.size - location.offset) {
      throw ModelError(fmt::format("tensor {}: external data offset {} + length {} passes the end of {} ({} bytes)",
                                   io::quoted_name(tensor.name()), location.offset, length,
                                   io::quoted_name(location.location), file.size));
    }
    if (io::element_size(tensor.data_type()) != 0 && length != expected) {
      throw ModelError(fmt::format("tensor {}: external data length {} does not match its shape, which needs {} bytes",
                                   io::quoted_name(tensor.name()), length, expected));
    }

    std::string bytes(length, '\0');
    file.stream.seekg(static_cast<std::streamoff>(location.offset));
    file.stream.read(bytes.data(), static_cast<std::streamsize>(length));
    if (!file.stream) throw IoError(fmt::format("cannot read external data of tensor {}", io::quoted_name(tensor.name())));

    tensor.clear_external_data();
    tensor.clear_data_location();
    tensor.set_raw_data(std::move(bytes));
  }

 private:
  struct OpenFile {
    std::ifstream stream;
    uint64_t size = 0;
  };

  OpenFile& open(const std::string& location) {
    const fs::path resolved = io::resolve_external_file(folder_, location);
    auto it = files_.find(resolved);
    if (it != files_.end()) return it->second;

    OpenFile file;
    file.stream.open(resolved, std::ios::binary);
    if (!file.stream) throw IoError(fmt::format("cannot open external data file '{}'", resolved.string()));
    file.size = fs::file_size(resolved);
    model_.external_files.push_back(resolved);
    model_.total_bytes += file.size;
    return files_.emplace(resolved, std::move(file)).first->second;
  }

  Model& model_;
  fs::path folder_;
  std::map<fs::path, OpenFile> files_;
};

// Protobuf nesting that parsing accepts. Each subgraph level adds three messages (NodeProto,
// AttributeProto, GraphProto), so this admits graph::kMaxSubgraphDepth levels with room for nested
// types; deeper files fail to parse.
constexpr int kMaxMessageDepth = 3 * graph::kMaxSubgraphDepth + 64;

onnx::ModelProto parse_model(const std::string& bytes, const fs::path& path) {
  if (bytes.size() > kProtobufLimitBytes) {
    throw ModelError(fmt::format("'{}' is {} bytes, above protobuf's 2 GiB limit", path.string(), bytes.size()));
  }
  onnx::ModelProto proto;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetRecursionLimit(kMaxMessageDepth);
  if (!proto.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    throw ModelError(fmt::format("'{}' is not a valid ONNX model: protobuf parsing failed (truncated, not a model "
                                 "file, or nested more than {} messages deep)",
                                 path.string(), kMaxMessageDepth));
  }
  if (!proto.has_graph() || proto.ir_version() <= 0) {
    throw ModelError(fmt::format("'{}' is not a valid ONNX model: it has no graph or no IR version", path.string()));
  }
  return proto;
}

void load_or_locate_external_data(Model& model, const LoadOptions& options) {
  const fs::path folder = model.path.parent_path();
  if (options.load_external_data) {
    ExternalDataReader reader(model);
    graph::for_each_tensor(*model.proto.mutable_graph(), [&](onnx::TensorProto& tensor) {
      if (io::is_external(tensor)) reader.load(tensor);
    });
    return;
  }
  graph::for_each_tensor(*model.proto.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (!io::is_external(tensor)) return;
    const fs::path resolved = io::resolve_external_file(folder, io::parse_external_data(tensor).location);
    if (std::find(model.external_files.begin(), model.external_files.end(), resolved) == model.external_files.end()) {
      model.external_files.push_back(resolved);
      model.total_bytes += fs::file_size(resolved);
    }
  });
}

}  // namespace

Model load_model_from_bytes(const std::string& bytes, const fs::path& path, const LoadOptions& options) {
  Model model;
  model.path = path;
  model.total_bytes = bytes.size();
  model.proto = parse_model(bytes, path);
  // The structure is checked first: its depth limit bounds the recursion of every later walk, and
  // a broken graph is rejected before any external data is read.
  graph::validate_structure(model.proto);
  load_or_locate_external_data(model, options);
  graph::for_each_tensor(*model.proto.mutable_graph(), [](const onnx::TensorProto& tensor) {
    io::validate_tensor(tensor);
  });
  return model;
}

Model load_model(const fs::path& path, const LoadOptions& options) {
  return load_model_from_bytes(read_model_file(path), path, options);
}

fs::path external_data_path_for(const fs::path& output) {
  fs::path data = output;
  data += ".data";
  return data;
}

namespace {

constexpr uint64_t kExternalDataAlignment = 64;

// Converts float_data to raw_data so that the bytes can move to the external data file.
bool ensure_raw_data(onnx::TensorProto& tensor) {
  if (tensor.has_raw_data()) return true;
  if (tensor.data_type() == onnx::TensorProto::FLOAT && tensor.float_data_size() > 0) {
    const auto& values = tensor.float_data();
    tensor.set_raw_data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    tensor.clear_float_data();
    return true;
  }
  return false;
}

uint64_t write_external_data(onnx::ModelProto& model, io::AtomicFile& data_file, const std::string& location) {
  uint64_t offset = 0;
  // NOTE: only initializers move to external data; Constant-node tensors stay inline.
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (auto& tensor : *graph.mutable_initializer()) {
      if (!ensure_raw_data(tensor) || tensor.raw_data().size() < kExternalDataThresholdBytes) continue;
      const uint64_t padding = (kExternalDataAlignment - offset % kExternalDataAlignment) % kExternalDataAlignment;
      data_file.write(std::string(padding, '\0'));
      offset += padding;
      data_file.write(tensor.raw_data());

      tensor.set_data_location(onnx::TensorProto::EXTERNAL);
      auto add_entry = [&](const std::string& key, const std::string& value) {
        auto* entry = tensor.add_external_data();
        entry->set_key(key);
        entry->set_value(value);
      };
      add_entry("location", location);
      add_entry("offset", std::to_string(offset));
      add_entry("length", std::to_string(tensor.raw_data().size()));
      offset += tensor.raw_data().size();
      tensor.clear_raw_data();
    }
  });
  return offset;
}

// Serializes `model` into the file, with the system's reason when a write fails (a full disk).
void write_model_file(const onnx::ModelProto& model, io::AtomicFile& file) {
  google::protobuf::io::FileOutputStream stream(file.fd());
  if (!model.SerializeToZeroCopyStream(&stream) || !stream.Flush()) {
    const int error = stream.GetErrno();
    throw IoError(fmt::format("cannot write the model to '{}': {}", file.temporary_path().string(),
                              error != 0 ? std::strerror(error) : "serialization failed"));
  }
}

}  // namespace

SaveResult save_model(onnx::ModelProto& model, const fs::path& output, const SaveOptions& options) {
  const uint64_t inline_bytes = model.ByteSizeLong();
  bool external = false;
  switch (options.external_data) {
    case ExternalDataMode::kAlways: external = true; break;
    case ExternalDataMode::kNever: external = false; break;
    case ExternalDataMode::kAuto: external = options.input_had_external_data || inline_bytes > kProtobufLimitBytes; break;
  }
  if (!external && inline_bytes > kProtobufLimitBytes) {
    throw UsageError(fmt::format("the output model is {} bytes, above protobuf's 2 GiB limit; use --external-data "
                                 "auto or always",
                                 inline_bytes));
  }

  SaveResult result;
  std::unique_ptr<io::AtomicFile> data_file;
  if (external) {
    result.external_data_path = external_data_path_for(output);
    data_file = std::make_unique<io::AtomicFile>(result.external_data_path);
    result.external_data_bytes =
        write_external_data(model, *data_file, result.external_data_path.filename().string());
    if (model.ByteSizeLong() > kProtobufLimitBytes) {
      throw ModelError("the model is above protobuf's 2 GiB limit even with its initializers in external data");
    }
  }

  io::AtomicFile model_file(output);
  write_model_file(model, model_file);
  result.model_bytes = model.ByteSizeLong();
  if (options.before_commit) options.before_commit(result);
  // The data file goes into place first, so the model never refers to a missing file.
  if (data_file) data_file->commit();
  model_file.commit();
  spdlog::debug("wrote {} ({} bytes{})", output.string(), result.model_bytes,
                external ? fmt::format(", external data {} bytes", result.external_data_bytes) : "");
  return result;
}

}  // namespace onnxquant
