#include "io/stale_temporaries.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>

#include "io/quoted_name.hpp"

namespace onnxquant::io {
namespace fs = std::filesystem;

namespace {

// mkstemp replaces the six X of its template.
constexpr size_t kRandomSuffixLength = 6;

bool is_temporary_name(const std::string& name, const std::string& prefix) {
  return name.size() == prefix.size() + kRandomSuffixLength && name.compare(0, prefix.size(), prefix) == 0;
}

// Removes `path` when it is a regular file that no process holds locked. Returns whether it did.
bool remove_if_unlocked(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat info {};
  bool removed = false;
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    removed = ::unlink(path.c_str()) == 0;
    if (!removed) spdlog::debug("cannot remove {}: {}", quoted_name(path.string()), std::strerror(errno));
  }
  ::close(fd);
  return removed;
}

}  // namespace

std::string temporary_prefix(const std::string& final_name) { return "." + final_name + ".tmp-"; }

void remove_stale_temporaries(const fs::path& folder, const std::string& final_name) {
  const std::string prefix = temporary_prefix(final_name);
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (!is_temporary_name(it->path().filename().string(), prefix)) continue;
    if (remove_if_unlocked(it->path())) {
      spdlog::info("removed {}, a temporary file left by an interrupted run", quoted_name(it->path().string()));
    }
  }
  if (error) spdlog::debug("cannot list {}: {}", quoted_name(folder.string()), error.message());
}

}  // namespace onnxquant::io
