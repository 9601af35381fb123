#include <cerrno>
#include <cstring>
#include <fstream>
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
#include "io/tensor_store.hpp"
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

// Opens and checks the files of every external tensor. With ExternalDataLoading::kRead the data
// is read into raw_data at once; otherwise it stays in the files until a pass maps it.
void open_external_data(Model& model, const LoadOptions& options) {
  io::TensorStore& store = *model.store;
  graph::for_each_tensor(*model.proto.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (!io::is_external(tensor)) return;
    store.add_input(tensor);
    if (options.external_data == ExternalDataLoading::kRead) store.read_into_memory(tensor);
  });
  model.external_files = store.input_files();
  model.total_bytes += store.input_file_bytes();
}

}  // namespace

Model load_model_from_bytes(const std::string& bytes, const fs::path& path, const LoadOptions& options) {
  Model model;
  model.path = path;
  model.total_bytes = bytes.size();
  model.proto = parse_model(bytes, path);
  model.store = std::make_shared<io::TensorStore>(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  // The structure is checked first: its depth limit bounds the recursion of every later walk, and
  // a broken graph is rejected before any external data is read.
  graph::validate_structure(model.proto);
  open_external_data(model, options);
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

// Bytes of the external data that the tensors of `model` refer to.
uint64_t external_tensor_bytes(onnx::ModelProto& model) {
  uint64_t total = 0;
  graph::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (!io::is_external(tensor)) return;
    const io::ExternalDataLocation location = io::parse_external_data(tensor);
    total += location.has_length ? location.length : io::tensor_bytes(tensor);
  });
  return total;
}

// Points every tensor that belongs in the output's external data file there: initializers of at
// least kExternalDataThresholdBytes, and tensors of any kind that the input stored externally
// (smaller ones of those become inline). Tensors that passes already moved there stay.
void gather_external_data(onnx::ModelProto& model, io::TensorStore& store) {
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (auto& tensor : *graph.mutable_initializer()) store.move_to_output(tensor);
  });
  graph::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (!io::is_external(tensor) || store.is_in_output(tensor)) return;
    const io::ExternalDataLocation location = io::parse_external_data(tensor);
    const uint64_t length = location.has_length ? location.length : io::tensor_bytes(tensor);
    if (length < kExternalDataThresholdBytes) {
      store.read_into_memory(tensor);
    } else {
      store.copy_to_output(tensor);
    }
  });
  graph::for_each_tensor(*model.mutable_graph(),
                         [&](onnx::TensorProto& tensor) { store.name_output_location(tensor); });
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

bool saves_external_data(onnx::ModelProto& model, const io::TensorStore& store, const SaveOptions& options) {
  switch (options.external_data) {
    case ExternalDataMode::kAlways: return true;
    case ExternalDataMode::kNever: return false;
    case ExternalDataMode::kAuto: break;
  }
  if (options.input_had_external_data || !store.input_files().empty() || store.has_output()) return true;
  return model.ByteSizeLong() > kProtobufLimitBytes;
}

// Reads all external data into the model, for an output without external data.
void read_external_data(onnx::ModelProto& model, const io::TensorStore& store) {
  const uint64_t inline_bytes = model.ByteSizeLong() + external_tensor_bytes(model);
  if (inline_bytes > kProtobufLimitBytes) {
    throw UsageError(fmt::format("the output model is {} bytes, above protobuf's 2 GiB limit; use --external-data "
                                 "auto or always",
                                 inline_bytes));
  }
  graph::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& tensor) { store.read_into_memory(tensor); });
}

SaveResult save_with_store(onnx::ModelProto& model, io::TensorStore& store, const fs::path& output,
                           const SaveOptions& options) {
  const bool external = saves_external_data(model, store, options);
  SaveResult result;
  if (external) {
    result.external_data_path = external_data_path_for(output);
    if (!store.has_output()) store.open_output(result.external_data_path);
    if (store.output_path() != result.external_data_path) {
      throw std::logic_error("the external data file was opened for another output");
    }
    gather_external_data(model, store);
    result.external_data_bytes = store.output_bytes();
    if (model.ByteSizeLong() > kProtobufLimitBytes) {
      throw ModelError("the model is above protobuf's 2 GiB limit even with its initializers in external data");
    }
  } else {
    read_external_data(model, store);
  }

  io::AtomicFile model_file(output);
  write_model_file(model, model_file);
  result.model_bytes = model.ByteSizeLong();
  if (options.before_commit) options.before_commit(result);
  // The data file goes into place first, so the model never refers to a missing file.
  if (external) store.commit_output();
  model_file.commit();
  spdlog::debug("wrote {} ({} bytes{})", output.string(), result.model_bytes,
                external ? fmt::format(", external data {} bytes", result.external_data_bytes) : "");
  return result;
}

}  // namespace

SaveResult save_model(onnx::ModelProto& model, const fs::path& output, const SaveOptions& options) {
  io::TensorStore inline_only;
  return save_with_store(model, inline_only, output, options);
}

SaveResult save_model(Model& model, const fs::path& output, const SaveOptions& options) {
  return save_with_store(model.proto, *model.store, output, options);
}

}  // namespace onnxquant
