// The storage of a model's tensor data. Data is inline in the ModelProto, or in an external data
// file of the input, which is checked at load and read through memory mapping one tensor at a time.
// While the passes run, finished tensors go to the output's external data file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::io {

class AtomicFile;

// The read-only bytes of one tensor. For an external tensor they are a private mapping of its
// range of the file, unmapped when the object is destroyed, so the pages leave the resident set.
class TensorBytes {
 public:
  TensorBytes() = default;
  explicit TensorBytes(std::span<const uint8_t> view) : view_(view) {}
  TensorBytes(void* mapping, size_t mapping_length, std::span<const uint8_t> view)
      : mapping_(mapping), mapping_length_(mapping_length), view_(view) {}
  TensorBytes(TensorBytes&& other) noexcept;
  TensorBytes& operator=(TensorBytes&& other) noexcept;
  TensorBytes(const TensorBytes&) = delete;
  TensorBytes& operator=(const TensorBytes&) = delete;
  ~TensorBytes();

  std::span<const uint8_t> span() const { return view_; }
  size_t size() const { return view_.size(); }

 private:
  void unmap();

  void* mapping_ = nullptr;
  size_t mapping_length_ = 0;
  std::span<const uint8_t> view_;
};

// External tensors up to this size are read into memory before the graph is analyzed.
inline constexpr uint64_t kSmallTensorBytes = 64 * 1024;

class TensorStore {
 public:
  // A store without a model folder: reading an external tensor throws ModelError.
  TensorStore();
  // Resolves external data locations relative to `model_folder`.
  explicit TensorStore(std::filesystem::path model_folder);
  TensorStore(const TensorStore&) = delete;
  TensorStore& operator=(const TensorStore&) = delete;
  ~TensorStore();

  // Opens the file of an external tensor (see resolve_external_file for the location rules) and
  // checks that the tensor's range lies inside the file and that its length matches the shape.
  // Throws ModelError or IoError; reads no data.
  void add_input(const onnx::TensorProto& tensor);
  // Canonical paths of the input files, in the order they were first referenced.
  const std::vector<std::filesystem::path>& input_files() const { return input_paths_; }
  uint64_t input_file_bytes() const { return input_file_bytes_; }

  // The bytes of a tensor stored in raw_data or in an external file; empty for a tensor that uses
  // a typed field (float_data, int32_data, ...). Throws ModelError for an external tensor whose
  // file this store did not open.
  TensorBytes bytes(const onnx::TensorProto& tensor) const;
  // Replaces the external reference of a tensor with its data in raw_data.
  void read_into_memory(onnx::TensorProto& tensor) const;
  // Reads the external tensors of at most kSmallTensorBytes into raw_data. ONNX shape inference and
  // the version converter read the data of shape, axes and scale inputs, which are that small.
  void read_small_tensors(onnx::ModelProto& model) const;

  // Creates the output's external data file under a temporary name next to `data_path`. From then
  // on, tensors move there as they are finished; the file keeps its temporary name until commit.
  void open_output(const std::filesystem::path& data_path);
  bool has_output() const { return output_ != nullptr; }
  // Appends the raw_data (or float_data) of a tensor of at least kExternalDataThresholdBytes to the
  // output file and leaves only a reference to it in the tensor. Returns whether it moved.
  bool move_to_output(onnx::TensorProto& tensor);
  // Writes data produced in pieces to the output file: begin_output_tensor pads the file and
  // returns the offset where the data starts, write_output appends each piece, and
  // end_output_tensor points the tensor at everything written since that offset.
  uint64_t begin_output_tensor();
  void write_output(std::span<const uint8_t> bytes);
  void end_output_tensor(onnx::TensorProto& tensor, uint64_t offset);
  // Copies the data of a tensor in an input file to the output file, in chunks, and points the
  // tensor at the copy.
  void copy_to_output(onnx::TensorProto& tensor);
  bool is_in_output(const onnx::TensorProto& tensor) const;
  // Gives a tensor in the output file the output's file name as its location; returns false for
  // other tensors. Call once per tensor, after the last pass and before the model is serialized.
  bool name_output_location(onnx::TensorProto& tensor) const;
  uint64_t output_bytes() const { return output_offset_; }
  const std::filesystem::path& output_path() const { return output_path_; }
  // Flushes the output file and renames it into place.
  void commit_output();

 private:
  struct InputFile {
    int fd = -1;
    uint64_t size = 0;
  };

  const InputFile& input_for(const onnx::TensorProto& tensor, const std::string& location) const;
  AtomicFile& output() const;
  uint64_t append(std::span<const uint8_t> bytes);
  uint64_t pad_output();
  void point_at_output(onnx::TensorProto& tensor, uint64_t offset, uint64_t length) const;

  std::filesystem::path folder_;
  bool has_folder_ = false;
  std::map<std::filesystem::path, InputFile> files_;
  std::map<std::string, const InputFile*> by_location_;
  std::vector<std::filesystem::path> input_paths_;
  uint64_t input_file_bytes_ = 0;

  std::unique_ptr<AtomicFile> output_;
  std::filesystem::path output_path_;
  uint64_t output_offset_ = 0;
};

}  // namespace onnxquant::io
