// A file written under a temporary name in its final folder and renamed into place on commit.
#pragma once

#include <filesystem>
#include <string_view>

namespace onnxquant::io {

class AtomicFile {
 public:
  // Creates the temporary file next to `final_path`. Throws IoError when the folder is missing or
  // not writable.
  explicit AtomicFile(const std::filesystem::path& final_path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();

  int fd() const { return fd_; }
  const std::filesystem::path& temporary_path() const { return temporary_path_; }

  void write(std::string_view bytes);
  // Flushes to disk, closes and renames over the final path.
  void commit();

 private:
  void close_descriptor();

  std::filesystem::path final_path_;
  std::filesystem::path temporary_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace onnxquant::io
