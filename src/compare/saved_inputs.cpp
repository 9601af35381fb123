#include "compare/saved_inputs.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sys/stat.h>

#include "eval/tensor.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant::compare {
namespace fs = std::filesystem;

namespace {

fs::path parent_folder(const fs::path& path) {
  return path.parent_path().empty() ? fs::path(".") : path.parent_path();
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  stream.close();
  if (!stream) throw IoError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
}

}  // namespace

SavedInputsFolder::SavedInputsFolder(fs::path folder) : folder_(std::move(folder)) {
  // "out/" names the folder "out", whose temporary sibling is ".out.tmp-XXXXXX".
  if (folder_.filename().empty()) folder_ = folder_.parent_path();
  std::error_code error;
  const fs::path parent = parent_folder(folder_);
  if (!fs::is_directory(parent, error)) {
    throw IoError(fmt::format("the folder '{}' of --save-inputs '{}' does not exist", parent.string(), folder_.string()));
  }
  if (!fs::exists(fs::symlink_status(folder_, error))) return;
  if (!fs::is_directory(fs::symlink_status(folder_, error)) || !fs::is_empty(folder_, error)) {
    throw UsageError(fmt::format("--save-inputs '{}' exists and is not an empty folder; give a new path",
                                 folder_.string()));
  }
}

SavedInputsFolder::~SavedInputsFolder() {
  if (committed_ || temporary_.empty()) return;
  std::error_code error;
  fs::remove_all(temporary_, error);
}

void SavedInputsFolder::write(const std::vector<Feeds>& samples, const std::vector<std::string>& input_order) {
  std::string pattern = (parent_folder(folder_) / fmt::format(".{}.tmp-XXXXXX", folder_.filename().string())).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw IoError(fmt::format("cannot create a temporary folder next to '{}': {}", folder_.string(), std::strerror(errno)));
  }
  temporary_ = pattern;
  // mkdtemp creates the folder with mode 0700; give it the usual permissions of a new folder.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(temporary_.c_str(), 0777 & ~mask);

  for (size_t sample = 0; sample < samples.size(); ++sample) {
    const fs::path sample_folder = temporary_ / fmt::format("test_data_set_{}", sample);
    std::error_code error;
    if (!fs::create_directory(sample_folder, error)) {
      throw IoError(fmt::format("cannot create '{}': {}", sample_folder.string(), error.message()));
    }
    for (size_t index = 0; index < input_order.size(); ++index) {
      const std::string& name = input_order[index];
      const eval::Tensor& tensor = samples[sample].at(name);
      if (tensor.data.size() >= kProtobufLimitBytes) {
        throw IoError(fmt::format("input '{}' is {} bytes, too large for a .pb file (protobuf's limit is 2 GiB); "
                                  "run without --save-inputs",
                                  name, tensor.data.size()));
      }
      const std::string bytes = eval::tensor_to_proto(tensor, name).SerializeAsString();
      write_file(sample_folder / fmt::format("input_{}.pb", index), bytes);
    }
  }
}

void SavedInputsFolder::commit() {
  // rename(2) replaces an empty folder at the destination.
  std::error_code error;
  fs::rename(temporary_, folder_, error);
  if (error) {
    throw IoError(fmt::format("cannot move the saved inputs to '{}': {}", folder_.string(), error.message()));
  }
  committed_ = true;
}

}  // namespace onnxquant::compare
