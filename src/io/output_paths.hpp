// Checks of output paths before any work, so that no output can overwrite an input.
#pragma once

#include <filesystem>

#include "onnxquant/model.hpp"

namespace onnxquant::io {

// Whether two paths name the same file, or would once created.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

// Rejects an output path that cannot be written or would overwrite an input, before any work.
// `role` names the path in messages, for example "report".
void check_output_path(const std::filesystem::path& path, const char* role, const std::filesystem::path& input);

// Rejects an output path that is one of the external data files of `model`.
void reject_overwriting_external_data(const Model& model, const std::filesystem::path& path, const char* role);

}  // namespace onnxquant::io
