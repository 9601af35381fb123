#include "io/output_paths.hpp"

#include <fmt/format.h>

#include "onnxquant/errors.hpp"

namespace onnxquant::io {
namespace fs = std::filesystem;

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error);
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);
}

void check_output_path(const fs::path& path, const char* role, const fs::path& input) {
  if (path.empty()) throw UsageError(fmt::format("the {} path is empty", role));
  std::error_code error;
  const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::is_directory(folder, error)) {
    throw IoError(fmt::format("the folder '{}' of the {} '{}' does not exist", folder.string(), role, path.string()));
  }
  if (fs::is_directory(path, error)) {
    throw UsageError(fmt::format("the {} '{}' is a folder; give a file path", role, path.string()));
  }
  if (same_file(input, path)) {
    throw UsageError(fmt::format("the {} '{}' is the input model; choose another path", role, path.string()));
  }
}

void reject_overwriting_external_data(const Model& model, const fs::path& path, const char* role) {
  for (const auto& file : model.external_files) {
    if (same_file(file, path)) {
      throw UsageError(fmt::format("the {} '{}' would overwrite the input's external data file '{}'; choose another "
                                   "path",
                                   role, path.string(), file.string()));
    }
  }
}

}  // namespace onnxquant::io
