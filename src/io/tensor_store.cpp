#include "io/tensor_store.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <string_view>

#include "graph/tensor_walk.hpp"
#include "io/atomic_file.hpp"
#include "io/external_data.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant::io {
namespace fs = std::filesystem;

namespace {

// The location of tensors in the output file until name_output_location. Input locations can
// never take this value, because resolve_external_file rejects every location with a NUL byte.
const std::string kOutputLocation("\0onnxquant-output", 17);

constexpr uint64_t kExternalDataAlignment = 64;
// Unchanged tensors are copied from the input file to the output file in chunks of this size.
constexpr size_t kCopyChunkBytes = size_t{8} << 20;

std::string location_of(const onnx::TensorProto& tensor) {
  for (const auto& entry : tensor.external_data()) {
    if (entry.key() == "location") return entry.value();
  }
  return {};
}

// The length of an external tensor: its length entry, or the size its shape needs.
uint64_t external_length(const onnx::TensorProto& tensor, const ExternalDataLocation& location) {
  return location.has_length ? location.length : tensor_bytes(tensor);
}

// Maps `length` bytes at `offset` of `fd` read-only. The mapping starts at the page boundary at
// or before `offset`, as mmap requires.
TensorBytes map_range(int fd, uint64_t offset, uint64_t length, const std::string& tensor_name) {
  if (length == 0) return TensorBytes();
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = offset - offset % page;
  const size_t mapping_length = static_cast<size_t>(length + (offset - start));
  void* mapping = ::mmap(nullptr, mapping_length, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(start));
  if (mapping == MAP_FAILED) {
    throw IoError(fmt::format("cannot map the external data of tensor {}: {}", quoted_name(tensor_name),
                              std::strerror(errno)));
  }
  // Passes read a tensor through the mapping several times and in column order, so the hint
  // requests the whole range ahead. MADV_SEQUENTIAL, which drops pages behind the reader, made an INT8
  // per-channel run of a 1.6 GiB model take 5.5 s instead of 1.1 s, refaulting the pages it dropped.
  ::madvise(mapping, mapping_length, MADV_WILLNEED);
  const auto* data = static_cast<const uint8_t*>(mapping) + (offset - start);
  return TensorBytes(mapping, mapping_length, {data, static_cast<size_t>(length)});
}

}  // namespace

TensorBytes::TensorBytes(TensorBytes&& other) noexcept
    : mapping_(other.mapping_), mapping_length_(other.mapping_length_), view_(other.view_) {
  other.mapping_ = nullptr;
  other.mapping_length_ = 0;
  other.view_ = {};
}

TensorBytes& TensorBytes::operator=(TensorBytes&& other) noexcept {
  if (this != &other) {
    unmap();
    mapping_ = other.mapping_;
    mapping_length_ = other.mapping_length_;
    view_ = other.view_;
    other.mapping_ = nullptr;
    other.mapping_length_ = 0;
    other.view_ = {};
  }
  return *this;
}

TensorBytes::~TensorBytes() { unmap(); }

void TensorBytes::unmap() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_length_);
  mapping_ = nullptr;
  mapping_length_ = 0;
}

TensorStore::TensorStore() = default;

TensorStore::TensorStore(fs::path model_folder) : folder_(std::move(model_folder)), has_folder_(true) {}

TensorStore::~TensorStore() {
  for (auto& [path, file] : files_) {
    if (file.fd >= 0) ::close(file.fd);
  }
}

void TensorStore::add_input(const onnx::TensorProto& tensor) {
  const ExternalDataLocation location = parse_external_data(tensor);
  if (!has_folder_) {
    throw ModelError(fmt::format("tensor {} is stored externally, but the model has no folder to resolve {} in",
                                 quoted_name(tensor.name()), quoted_name(location.location)));
  }
  const fs::path resolved = resolve_external_file(folder_, location.location);
  auto it = files_.find(resolved);
  if (it == files_.end()) {
    // resolve_external_file checked the path; the checks on the descriptor cover a file replaced
    // in between.
    const int fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
      throw IoError(fmt::format("cannot open external data file {}: {}", quoted_name(resolved.string()),
                                std::strerror(errno)));
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd);
      throw ModelError(fmt::format("external data location {} is not a regular file", quoted_name(location.location)));
    }
    it = files_.emplace(resolved, InputFile{fd, static_cast<uint64_t>(info.st_size)}).first;
    input_paths_.push_back(resolved);
    input_file_bytes_ += it->second.size;
  }
  const InputFile& file = it->second;

  const uint64_t expected = tensor_bytes(tensor);
  const uint64_t length = external_length(tensor, location);
  if (location.offset > file.size || length > file.size - location.offset) {
    throw ModelError(fmt::format("tensor {}: external data offset {} + length {} passes the end of {} ({} bytes)",
                                 quoted_name(tensor.name()), location.offset, length, quoted_name(location.location),
                                 file.size));
  }
  if (element_size(tensor.data_type()) != 0 && length != expected) {
    throw ModelError(fmt::format("tensor {}: external data length {} does not match its shape, which needs {} bytes",
                                 quoted_name(tensor.name()), length, expected));
  }
  by_location_.emplace(location.location, &file);
}

const TensorStore::InputFile& TensorStore::input_for(const onnx::TensorProto& tensor,
                                                     const std::string& location) const {
  auto it = by_location_.find(location);
  if (it == by_location_.end()) {
    throw ModelError(fmt::format("tensor {} is stored externally in {}, which was not opened with the model",
                                 quoted_name(tensor.name()), quoted_name(location)));
  }
  return *it->second;
}

TensorBytes TensorStore::bytes(const onnx::TensorProto& tensor) const {
  if (!is_external(tensor)) {
    const std::string& raw = tensor.raw_data();
    return TensorBytes({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()});
  }
  const ExternalDataLocation location = parse_external_data(tensor);
  const uint64_t length = external_length(tensor, location);
  if (location.location == kOutputLocation) return map_range(output().fd(), location.offset, length, tensor.name());
  const InputFile& file = input_for(tensor, location.location);
  // add_input checked the range against the file size at load.
  // NOTE: a file truncated by another process after the load makes reading the mapping fail with SIGBUS.
  return map_range(file.fd, location.offset, length, tensor.name());
}

void TensorStore::read_into_memory(onnx::TensorProto& tensor) const {
  if (!is_external(tensor)) return;
  std::string data;
  {
    const TensorBytes view = bytes(tensor);
    data.assign(reinterpret_cast<const char*>(view.span().data()), view.size());
  }
  tensor.clear_external_data();
  tensor.clear_data_location();
  tensor.set_raw_data(std::move(data));
}

void TensorStore::read_small_tensors(onnx::ModelProto& model) const {
  graph::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (!is_external(tensor)) return;
    const ExternalDataLocation location = parse_external_data(tensor);
    if (external_length(tensor, location) <= kSmallTensorBytes) read_into_memory(tensor);
  });
}

void TensorStore::open_output(const fs::path& data_path) {
  if (output_) throw std::logic_error("the output's external data file is already open");
  output_ = std::make_unique<AtomicFile>(data_path);
  output_path_ = data_path;
  output_offset_ = 0;
}

AtomicFile& TensorStore::output() const {
  if (!output_) throw std::logic_error("the output's external data file is not open");
  return *output_;
}

uint64_t TensorStore::pad_output() {
  const uint64_t padding = (kExternalDataAlignment - output_offset_ % kExternalDataAlignment) % kExternalDataAlignment;
  if (padding > 0) output().write(std::string(padding, '\0'));
  output_offset_ += padding;
  return output_offset_;
}

uint64_t TensorStore::append(std::span<const uint8_t> bytes) {
  const uint64_t offset = pad_output();
  write_output(bytes);
  return offset;
}

void TensorStore::point_at_output(onnx::TensorProto& tensor, uint64_t offset, uint64_t length) const {
  // clear_raw_data and clear_float_data keep the capacity of the fields, so the buffers are
  // swapped out and freed instead.
  std::string().swap(*tensor.mutable_raw_data());
  tensor.clear_raw_data();
  google::protobuf::RepeatedField<float>().Swap(tensor.mutable_float_data());
  tensor.clear_external_data();
  tensor.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add_entry = [&](const std::string& key, const std::string& value) {
    auto* entry = tensor.add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  };
  add_entry("location", kOutputLocation);
  add_entry("offset", std::to_string(offset));
  add_entry("length", std::to_string(length));
}

bool TensorStore::move_to_output(onnx::TensorProto& tensor) {
  if (!output_ || is_external(tensor)) return false;
  std::span<const uint8_t> data;
  if (tensor.has_raw_data()) {
    data = {reinterpret_cast<const uint8_t*>(tensor.raw_data().data()), tensor.raw_data().size()};
  } else if (tensor.data_type() == onnx::TensorProto::FLOAT && tensor.float_data_size() > 0) {
    data = {reinterpret_cast<const uint8_t*>(tensor.float_data().data()), tensor.float_data().size() * sizeof(float)};
  } else {
    return false;
  }
  if (data.size() < kExternalDataThresholdBytes) return false;
  const uint64_t offset = append(data);
  point_at_output(tensor, offset, data.size());
  return true;
}

uint64_t TensorStore::begin_output_tensor() { return pad_output(); }

void TensorStore::write_output(std::span<const uint8_t> bytes) {
  output().write({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  output_offset_ += bytes.size();
}

void TensorStore::end_output_tensor(onnx::TensorProto& tensor, uint64_t offset) {
  point_at_output(tensor, offset, output_offset_ - offset);
}

void TensorStore::copy_to_output(onnx::TensorProto& tensor) {
  const ExternalDataLocation location = parse_external_data(tensor);
  const InputFile& file = input_for(tensor, location.location);
  const uint64_t length = external_length(tensor, location);
  const uint64_t offset = pad_output();

  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(kCopyChunkBytes, length)));
  uint64_t copied = 0;
  while (copied < length) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - copied));
    const ssize_t read = ::pread(file.fd, buffer.data(), chunk, static_cast<off_t>(location.offset + copied));
    if (read < 0 && errno == EINTR) continue;
    if (read <= 0) {
      throw IoError(fmt::format("cannot read the external data of tensor {}: {}", quoted_name(tensor.name()),
                                read < 0 ? std::strerror(errno) : "the file ends early"));
    }
    output().write({buffer.data(), static_cast<size_t>(read)});
    copied += static_cast<uint64_t>(read);
  }
  output_offset_ += length;
  point_at_output(tensor, offset, length);
}

bool TensorStore::is_in_output(const onnx::TensorProto& tensor) const {
  return is_external(tensor) && location_of(tensor) == kOutputLocation;
}

bool TensorStore::name_output_location(onnx::TensorProto& tensor) const {
  if (!is_in_output(tensor)) return false;
  for (auto& entry : *tensor.mutable_external_data()) {
    if (entry.key() == "location") entry.set_value(output_path_.filename().string());
  }
  return true;
}

void TensorStore::commit_output() { output().commit(); }

}  // namespace onnxquant::io
