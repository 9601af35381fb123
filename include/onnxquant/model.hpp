// Loading and saving ONNX models, with external data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "onnxquant/options.hpp"

namespace onnxquant {

namespace io {
class TensorStore;
}

// Protobuf cannot serialize or parse a message of 2 GiB or more.
inline constexpr uint64_t kProtobufLimitBytes = (uint64_t{1} << 31) - 1;
// Tensors smaller than this stay inline when a model is saved with external data.
inline constexpr uint64_t kExternalDataThresholdBytes = 1024;

struct Model {
  onnx::ModelProto proto;
  std::filesystem::path path;
  // The open external data files of the input, and the output's while a run writes it. Tensors
  // that stay in their files are read through it.
  std::shared_ptr<io::TensorStore> store;
  // Files that external data of the model referred to, resolved to canonical paths.
  std::vector<std::filesystem::path> external_files;
  // Size of the .onnx file plus the external data it referred to.
  uint64_t total_bytes = 0;
};

enum class ExternalDataLoading {
  kRead,  // every external tensor is read into raw_data at load
  // External tensors keep their location entries and stay in their files. A pass maps the range of
  // one tensor while it reads it, so memory does not grow with the size of the model.
  kMap,
};

struct LoadOptions {
  ExternalDataLoading external_data = ExternalDataLoading::kRead;
};

// Loads a model and, by default, reads all external data into the tensors' raw_data. External data
// locations are resolved relative to the model's folder. A location that is absolute, contains "..",
// leaves the folder or is reached through a symbolic or hard link is rejected before any read, and
// so is a range that passes the end of its file or whose length does not match the tensor's shape.
// Every tensor's data is checked against its shape and the graph structure is validated (see
// graph/structure.hpp); a model that fails throws ModelError.
Model load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// Loads a model from the bytes of an .onnx file, as load_model does. `path` names the model in
// messages, and external data is resolved relative to its folder.
Model load_model_from_bytes(const std::string& bytes, const std::filesystem::path& path,
                            const LoadOptions& options = {});

struct SaveResult;

struct SaveOptions {
  ExternalDataMode external_data = ExternalDataMode::kAuto;
  bool input_had_external_data = false;
  // Runs after every file is written under its temporary name and before any rename, so a
  // failure there (writing a report, say) leaves the output paths as they were.
  std::function<void(const SaveResult&)> before_commit;
};

struct SaveResult {
  uint64_t model_bytes = 0;
  uint64_t external_data_bytes = 0;
  std::filesystem::path external_data_path;  // empty when everything is inline
};

// Writes the model through temporary files in the output folder that are renamed into place, so
// the output path never contains a partial model. With external data the tensors move out of `model`
// into OUTPUT.data (the file name of the output plus ".data"), which is why `model` is not const.
// Tensors that the input stored externally are copied from the input's files in chunks, or read
// into memory when the output has no external data. This overload takes a model whose data is
// inline or was loaded with ExternalDataLoading::kRead.
SaveResult save_model(onnx::ModelProto& model, const std::filesystem::path& output, const SaveOptions& options);
// The same for a model loaded with any ExternalDataLoading, whose external data may already be in
// part in the output's file (see quantize_file).
SaveResult save_model(Model& model, const std::filesystem::path& output, const SaveOptions& options);

// The path save_model uses for the external data of `output`.
std::filesystem::path external_data_path_for(const std::filesystem::path& output);

}  // namespace onnxquant
