#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <string>

#include "io/stale_temporaries.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::io {
namespace fs = std::filesystem;

AtomicFile::AtomicFile(const fs::path& final_path) : final_path_(final_path) {
  const fs::path folder = final_path.parent_path().empty() ? fs::path(".") : final_path.parent_path();
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    throw IoError(fmt::format("output folder '{}' does not exist", folder.string()));
  }
  remove_stale_temporaries(folder, final_path.filename().string());
  std::string name = temporary_prefix(final_path.filename().string());
  name += "XXXXXX";
  std::string pattern = (folder / name).string();
  fd_ = ::mkstemp(pattern.data());
  if (fd_ < 0) {
    throw IoError(fmt::format("cannot create a temporary file in '{}': {}", folder.string(), std::strerror(errno)));
  }
  temporary_path_ = pattern;
  // The lock marks the file as in use for remove_stale_temporaries of other runs.
  // NOTE: another run that lists the folder between mkstemp and flock could remove the new file,
  // and the rename in commit() then fails with an I/O error. Only runs that write the same output
  // at the same time can meet this way.
  ::flock(fd_, LOCK_EX | LOCK_NB);
  // mkstemp creates the file with mode 0600; give it the usual permissions of a new file.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd_, 0666 & ~mask);
}

AtomicFile::~AtomicFile() {
  close_descriptor();
  if (!committed_ && !temporary_path_.empty()) ::unlink(temporary_path_.c_str());
}

void AtomicFile::close_descriptor() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void AtomicFile::write(std::string_view bytes) {
  const char* data = bytes.data();
  size_t remaining = bytes.size();
  while (remaining > 0) {
    const ssize_t written = ::write(fd_, data, remaining);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw IoError(fmt::format("cannot write '{}': {}", temporary_path_.string(), std::strerror(errno)));
    }
    data += written;
    remaining -= static_cast<size_t>(written);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) {
    throw IoError(fmt::format("cannot flush '{}': {}", temporary_path_.string(), std::strerror(errno)));
  }
  // The descriptor, and with it the lock, stays open until the rename is done, so no other run
  // takes the file for a stale one in between.
  if (::rename(temporary_path_.c_str(), final_path_.c_str()) != 0) {
    throw IoError(fmt::format("cannot rename '{}' to '{}': {}", temporary_path_.string(), final_path_.string(),
                              std::strerror(errno)));
  }
  committed_ = true;
  close_descriptor();
}

}  // namespace onnxquant::io
