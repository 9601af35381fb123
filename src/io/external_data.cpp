#include "io/external_data.hpp"

#include <limits.h>
#include <sys/stat.h>

#include <charconv>
#include <fmt/format.h>

#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::io {
namespace fs = std::filesystem;

namespace {

uint64_t parse_unsigned(const std::string& tensor_name, const std::string& key, const std::string& text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || ptr != end) {
    throw ModelError(fmt::format("tensor {}: external data {} {} is not a non-negative integer",
                                 quoted_name(tensor_name), key, quoted_name(text)));
  }
  return value;
}

// Rejects text that cannot name a file inside the model folder the same way on every system.
void check_location_text(const std::string& location) {
  if (location.find('\0') != std::string::npos) {
    throw ModelError(fmt::format("external data location {} contains a NUL byte", quoted_name(location)));
  }
  if (location.find('\\') != std::string::npos) {
    throw ModelError(fmt::format("external data location {} contains a backslash; ONNX locations are relative POSIX "
                                 "paths with '/' as the separator",
                                 quoted_name(location)));
  }
  if (location.size() >= PATH_MAX) {
    throw ModelError(fmt::format("external data location {} is longer than the path limit of {} bytes",
                                 quoted_name(location), PATH_MAX - 1));
  }
}

bool is_inside(const fs::path& folder, const fs::path& candidate) {
  auto folder_it = folder.begin();
  auto candidate_it = candidate.begin();
  for (; folder_it != folder.end(); ++folder_it, ++candidate_it) {
    if (candidate_it == candidate.end() || *folder_it != *candidate_it) return false;
  }
  return candidate_it != candidate.end();
}

}  // namespace

bool is_external(const onnx::TensorProto& tensor) {
  return tensor.has_data_location() && tensor.data_location() == onnx::TensorProto::EXTERNAL;
}

ExternalDataLocation parse_external_data(const onnx::TensorProto& tensor) {
  ExternalDataLocation result;
  bool has_location = false;
  for (const auto& entry : tensor.external_data()) {
    if (entry.key() == "location") {
      result.location = entry.value();
      has_location = true;
    } else if (entry.key() == "offset") {
      result.offset = parse_unsigned(tensor.name(), "offset", entry.value());
    } else if (entry.key() == "length") {
      result.length = parse_unsigned(tensor.name(), "length", entry.value());
      result.has_length = true;
    }
  }
  if (!has_location || result.location.empty()) {
    throw ModelError(fmt::format("tensor {} is stored externally but has no location", quoted_name(tensor.name())));
  }
  return result;
}

fs::path resolve_external_file(const fs::path& model_folder, const std::string& location) {
  check_location_text(location);
  const fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
    throw ModelError(fmt::format("external data location {} is absolute; it must be relative to the model folder",
                                 quoted_name(location)));
  }
  for (const auto& part : relative) {
    if (part == "..") {
      throw ModelError(fmt::format("external data location {} contains '..'; it must stay inside the model folder",
                                   quoted_name(location)));
    }
    if (part.string().size() > NAME_MAX) {
      throw ModelError(fmt::format("external data location {} has a component longer than {} bytes, the file name "
                                   "limit",
                                   quoted_name(location), NAME_MAX));
    }
  }

  std::error_code error;
  const fs::path folder = fs::canonical(model_folder.empty() ? fs::path(".") : model_folder, error);
  if (error) throw IoError(fmt::format("cannot resolve model folder '{}': {}", model_folder.string(), error.message()));
  const fs::path candidate = folder / relative;

  // Every component below the model folder must be a plain folder or file, never a link.
  fs::path walked = folder;
  for (const auto& part : relative) {
    walked /= part;
    if (fs::is_symlink(fs::symlink_status(walked, error))) {
      throw ModelError(fmt::format("external data location {} goes through the symbolic link {}",
                                   quoted_name(location), quoted_name(walked.string())));
    }
  }
  if (!fs::exists(candidate, error)) {
    throw IoError(fmt::format("external data file {} not found (location {})", quoted_name(candidate.string()),
                              quoted_name(location)));
  }
  const fs::path resolved = fs::canonical(candidate, error);
  if (error || !is_inside(folder, resolved)) {
    throw ModelError(fmt::format("external data location {} resolves outside the model folder", quoted_name(location)));
  }
  struct stat info {};
  if (::stat(resolved.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    throw ModelError(fmt::format("external data location {} is not a regular file", quoted_name(location)));
  }
  if (info.st_nlink > 1) {
    throw ModelError(fmt::format("external data file {} has {} hard links; copy it to a file of its own",
                                 quoted_name(resolved.string()), info.st_nlink));
  }
  return resolved;
}

}  // namespace onnxquant::io
