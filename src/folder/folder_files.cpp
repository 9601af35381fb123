#include "folder/folder_files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "io/quoted_name.hpp"
#include "io/stale_temporaries.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::folder {
namespace fs = std::filesystem;

namespace {

// mkdtemp replaces the six X of its template.
constexpr size_t kRandomSuffixLength = 6;

fs::path absolute_normal(const fs::path& path) {
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(fs::absolute(path), error);
  return error ? fs::absolute(path).lexically_normal() : resolved;
}

bool is_inside(const fs::path& path, const fs::path& folder) {
  const fs::path relative = absolute_normal(path).lexically_relative(absolute_normal(folder));
  return !relative.empty() && *relative.begin() != "..";
}

// Removes the staging folders `parent/.NAME.tmp-XXXXXX` of runs that ended without removing them.
// A run holds an exclusive flock on its staging folder, which the kernel releases when the process
// ends, even by SIGKILL.
void remove_stale_staging_folders(const fs::path& parent, const std::string& final_name) {
  const std::string prefix = io::temporary_prefix(final_name);
  std::error_code error;
  for (fs::directory_iterator it(parent, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() != prefix.size() + kRandomSuffixLength || name.compare(0, prefix.size(), prefix) != 0) continue;
    const int fd = ::open(it->path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      std::error_code remove_error;
      fs::remove_all(it->path(), remove_error);
      if (!remove_error) {
        spdlog::info("removed {}, a temporary folder left by an interrupted run", io::quoted_name(it->path().string()));
      }
    }
    ::close(fd);
  }
}

}  // namespace

void check_output_folder(const fs::path& input, const fs::path& output) {
  if (output.empty()) throw UsageError("the output folder path is empty");
  std::error_code error;
  const fs::file_status status = fs::symlink_status(output, error);
  if (fs::is_symlink(status)) {
    throw UsageError(fmt::format("the output '{}' is a symbolic link; give a new or empty folder", output.string()));
  }
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) {
      throw UsageError(fmt::format("the output '{}' exists and is not a folder; a folder input needs an output folder "
                                   "that does not exist or is empty",
                                   output.string()));
    }
    if (!fs::is_empty(output, error)) {
      throw UsageError(fmt::format("the output folder '{}' is not empty; give a new or empty folder", output.string()));
    }
  }
  if (absolute_normal(output) == absolute_normal(input) || is_inside(output, input)) {
    throw UsageError(fmt::format("the output folder '{}' is the input folder or inside it; choose a folder outside '{}'",
                                 output.string(), input.string()));
  }
  const fs::path parent = absolute_normal(output).parent_path();
  if (!fs::is_directory(parent, error)) {
    throw IoError(fmt::format("the folder '{}' that would contain the output '{}' does not exist", parent.string(),
                              output.string()));
  }
}

void check_report_path(const fs::path& report, const fs::path& input, const fs::path& output) {
  std::error_code error;
  if (fs::is_directory(report, error)) {
    throw UsageError(fmt::format("the report '{}' is a folder; give a file path", report.string()));
  }
  for (const fs::path& folder : {input, output}) {
    if (is_inside(report, folder) || absolute_normal(report) == absolute_normal(folder)) {
      throw UsageError(fmt::format("the report '{}' is inside the folder '{}'; write it outside the input and output "
                                   "folders",
                                   report.string(), folder.string()));
    }
  }
  const fs::path parent = absolute_normal(report).parent_path();
  if (!fs::is_directory(parent, error)) {
    throw IoError(fmt::format("the folder '{}' of the report '{}' does not exist", parent.string(), report.string()));
  }
}

StagingFolder::StagingFolder(const fs::path& final_path) : final_path_(absolute_normal(final_path)) {
  const fs::path parent = final_path_.parent_path();
  const std::string final_name = final_path_.filename().string();
  remove_stale_staging_folders(parent, final_name);
  std::string pattern = (parent / (io::temporary_prefix(final_name) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw IoError(fmt::format("cannot create a temporary folder in '{}': {}", parent.string(), std::strerror(errno)));
  }
  path_ = pattern;
  // The lock marks the folder as in use for remove_stale_staging_folders of other runs.
  lock_fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd_ >= 0) ::flock(lock_fd_, LOCK_EX | LOCK_NB);
  // mkdtemp creates the folder with mode 0700; give it the usual permissions of a new folder.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(path_.c_str(), 0777 & ~mask);
}

StagingFolder::~StagingFolder() {
  if (!committed_) {
    std::error_code error;
    fs::remove_all(path_, error);
    if (error) spdlog::warn("cannot remove the temporary folder {}: {}", io::quoted_name(path_.string()), error.message());
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void StagingFolder::commit() {
  // rename(2) replaces an empty folder and fails with ENOTEMPTY when files appeared in it meanwhile.
  if (::rename(path_.c_str(), final_path_.c_str()) != 0) {
    throw IoError(fmt::format("cannot rename '{}' to '{}': {}", path_.string(), final_path_.string(),
                              std::strerror(errno)));
  }
  committed_ = true;
}

std::vector<std::string> copy_other_files(const fs::path& input, const fs::path& output,
                                          const std::set<fs::path>& skip) {
  std::vector<std::string> copied;
  std::error_code error;
  fs::recursive_directory_iterator it(input, fs::directory_options::none, error);
  for (const fs::recursive_directory_iterator end; !error && it != end; it.increment(error)) {
    const fs::path relative = it->path().lexically_relative(input);
    const fs::path destination = output / relative;
    const fs::file_status link_status = it->symlink_status();
    if (fs::is_directory(link_status)) {
      if (!fs::create_directories(destination, error) && error) {
        throw IoError(fmt::format("cannot create the folder '{}': {}", destination.string(), error.message()));
      }
      continue;
    }
    const fs::file_status status = it->status();
    if (!fs::is_regular_file(status)) {
      throw IoError(fmt::format("cannot copy '{}': it is {}; remove it or copy the folder with 'cp -rL' first",
                                it->path().string(),
                                fs::is_symlink(link_status) ? "a symbolic link to a folder or a missing file"
                                                            : "not a regular file or folder"));
    }
    if (skip.count(fs::canonical(it->path())) > 0) continue;
    if (fs::exists(fs::symlink_status(destination))) {
      spdlog::warn("{} is not copied: a quantized model's file has the same name", io::quoted_name(relative.string()));
      continue;
    }
    if (!fs::copy_file(it->path(), destination, error)) {
      throw IoError(fmt::format("cannot copy '{}' to '{}': {}", it->path().string(), destination.string(),
                                error.message()));
    }
    copied.push_back(relative.string());
  }
  if (error) throw IoError(fmt::format("cannot list the folder '{}': {}", input.string(), error.message()));
  std::sort(copied.begin(), copied.end());
  return copied;
}

uint64_t folder_bytes(const fs::path& folder) {
  uint64_t total = 0;
  std::error_code error;
  for (fs::recursive_directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error)) total += it->file_size(error);
  }
  return total;
}

}  // namespace onnxquant::folder
