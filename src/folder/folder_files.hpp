// File system steps of folder quantization: output checks, the staging folder and the copy of the
// files that are not models.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace onnxquant::folder {

// Throws UsageError unless `output` is missing or an empty folder (not a symbolic link), differs
// from `input` and lies outside it; IoError when the folder that would contain it is missing.
void check_output_folder(const std::filesystem::path& input, const std::filesystem::path& output);

// Throws UsageError unless `report` is a file path outside both folders.
void check_report_path(const std::filesystem::path& report, const std::filesystem::path& input,
                       const std::filesystem::path& output);

// A folder created next to the final output as ".NAME.tmp-XXXXXX" and renamed into place on commit.
// It is removed with its contents unless commit() succeeded.
class StagingFolder {
 public:
  explicit StagingFolder(const std::filesystem::path& final_path);
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  ~StagingFolder();

  const std::filesystem::path& path() const { return path_; }
  // Renames the staging folder to the final path, which must be missing or an empty folder.
  void commit();

 private:
  std::filesystem::path final_path_;
  std::filesystem::path path_;
  int lock_fd_ = -1;
  bool committed_ = false;
};

// Copies every file of `input` to `output` except those in `skip` (canonical paths) and those whose
// destination exists already, recreating subfolders. Symbolic links to regular files are copied as
// files. Throws IoError for any other kind of entry (a link to a folder, a FIFO) and when a copy
// fails. Returns the copied paths relative to `input`, sorted.
std::vector<std::string> copy_other_files(const std::filesystem::path& input, const std::filesystem::path& output,
                                          const std::set<std::filesystem::path>& skip);

// The size of every regular file under `folder`.
uint64_t folder_bytes(const std::filesystem::path& folder);

}  // namespace onnxquant::folder
