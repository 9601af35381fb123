// Reading genai_config.json: the models it names and the values that describe their data files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onnxquant/model_folder.hpp"

namespace onnxquant::folder {

struct GenaiConfig {
  std::filesystem::path path;
  // The file's bytes, so that a configuration without changes is copied byte for byte.
  std::string text;
  nlohmann::ordered_json value;
};

// Reads FOLDER/genai_config.json. Throws ModelError when it is missing, is not valid JSON or has no
// "model" object.
GenaiConfig read_genai_config(const std::filesystem::path& folder);

// Every non-empty string "filename" under "model", in the order of the file, grouped by file. The
// sections that GenAI reads ("decoder", "encoder", "embedding", "vision", "speech", "mtp", decoder
// "pipeline" entries and others) are found by that key, so that new sections are covered too. Throws
// ModelError for a "filename" that is not a string or not a safe relative path.
std::vector<FolderModel> find_models(const nlohmann::ordered_json& config);

// FOLDER/FILE after checking that it is a regular file inside the folder and reached through no
// symbolic link. Throws IoError when it does not exist and ModelError when it is unsafe.
std::filesystem::path resolve_model_path(const std::filesystem::path& folder, const FolderModel& model);

// The place of one initializer in a saved model's external data.
struct TensorLocation {
  std::string data_file;  // relative to the folder
  uint64_t offset = 0;
  uint64_t length = 0;
  int data_type = 0;
  std::vector<int64_t> shape;
};

// Finds initializer NAME in the output models; PREFERRED_FILE is the data file that the entry named
// before, so that entries of several sections keep pointing at one copy.
using LocateTensor = std::function<std::optional<TensorLocation>(const std::string& name,
                                                                 const std::string& preferred_file)>;

// Rewrites data_file, offset, length, data_type and shape of every "shared_initializers" entry under
// "model" with the output locations, and returns the JSON pointers of the entries it changed.
// Throws ModelError for an entry without a string "name" or one that `locate` cannot find.
std::vector<std::string> update_shared_initializers(nlohmann::ordered_json& config, const LocateTensor& locate);

}  // namespace onnxquant::folder
