// Reading genai_config.json with nlohmann::ordered_json, which keeps the keys in the file's order.
#include "folder/genai_config.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

#include "onnxquant/errors.hpp"

namespace onnxquant::folder {
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Pointer = Json::json_pointer;

namespace {

constexpr const char* kFilenameKey = "filename";
constexpr const char* kSharedInitializersKey = "shared_initializers";

// Rejects a model path that could leave the folder, before any file system access.
void check_relative_path(const std::string& file, const std::string& key) {
  const fs::path path(file);
  bool unsafe = path.is_absolute() || file.find('\\') != std::string::npos || file.find('\0') != std::string::npos;
  for (const auto& part : path) {
    if (part == "..") unsafe = true;
  }
  if (unsafe) {
    throw ModelError(fmt::format("{} names the model '{}' at {}; a model path must be relative to the folder, without "
                                 "'..' or backslashes",
                                 kGenaiConfigName, file, key));
  }
}

std::vector<std::string> shared_initializer_names(const Json& section) {
  std::vector<std::string> names;
  const auto found = section.find(kSharedInitializersKey);
  if (found == section.end() || !found->is_array()) return names;
  for (const auto& entry : *found) {
    if (entry.is_object() && entry.contains("name") && entry["name"].is_string()) {
      names.push_back(entry["name"].get<std::string>());
    }
  }
  return names;
}

class ModelCollector {
 public:
  void visit(const Json& node, const Pointer& pointer) {
    if (node.is_array()) {
      for (std::size_t index = 0; index < node.size(); ++index) visit(node[index], pointer / index);
      return;
    }
    if (!node.is_object()) return;
    for (const auto& [key, value] : node.items()) {
      if (key == kFilenameKey) {
        add(node, value, (pointer / key).to_string());
      } else {
        visit(value, pointer / key);
      }
    }
  }

  std::vector<FolderModel> take() { return std::move(models_); }

 private:
  void add(const Json& section, const Json& value, const std::string& key) {
    if (!value.is_string()) {
      throw ModelError(fmt::format("{} in {} must be a string, but it is {}", key, kGenaiConfigName, value.type_name()));
    }
    const std::string file = value.get<std::string>();
    // GenAI treats an empty file name as an absent section.
    if (file.empty()) return;
    check_relative_path(file, key);

    const std::string normal = fs::path(file).lexically_normal().string();
    auto [position, inserted] = index_.try_emplace(normal, models_.size());
    if (inserted) models_.push_back(FolderModel{file, {}, {}});
    FolderModel& model = models_[position->second];
    model.config_keys.push_back(key);
    for (auto& name : shared_initializer_names(section)) {
      if (std::find(model.shared_initializers.begin(), model.shared_initializers.end(), name) ==
          model.shared_initializers.end()) {
        model.shared_initializers.push_back(std::move(name));
      }
    }
  }

  std::vector<FolderModel> models_;
  std::map<std::string, std::size_t> index_;  // lexically normal path -> position in models_
};

Json location_json(const TensorLocation& location) {
  // GenAI reads offset and length as strings.
  return Json{{"data_file", location.data_file},
              {"offset", std::to_string(location.offset)},
              {"length", std::to_string(location.length)},
              {"data_type", location.data_type},
              {"shape", location.shape}};
}

class SharedInitializerUpdater {
 public:
  explicit SharedInitializerUpdater(const LocateTensor& locate) : locate_(locate) {}

  void visit(Json& node, const Pointer& pointer) {
    if (node.is_array()) {
      for (std::size_t index = 0; index < node.size(); ++index) visit(node[index], pointer / index);
      return;
    }
    if (!node.is_object()) return;
    for (auto& [key, value] : node.items()) {
      if (key == kSharedInitializersKey && value.is_array()) {
        update_list(value, pointer / key);
      } else {
        visit(value, pointer / key);
      }
    }
  }

  std::vector<std::string> take() { return std::move(changed_); }

 private:
  void update_list(Json& list, const Pointer& pointer) {
    for (std::size_t index = 0; index < list.size(); ++index) {
      Json& entry = list[index];
      const std::string key = (pointer / index).to_string();
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) {
        throw ModelError(fmt::format("{} in {} must be an object with a string \"name\"", key, kGenaiConfigName));
      }
      const std::string name = entry["name"].get<std::string>();
      const std::string preferred = entry.contains("data_file") && entry["data_file"].is_string()
                                        ? entry["data_file"].get<std::string>()
                                        : std::string();
      const std::optional<TensorLocation> location = locate_(name, preferred);
      if (!location) {
        throw ModelError(fmt::format("the shared initializer '{}' ({} in {}) is not in the external data of any output "
                                     "model, so the configuration cannot point at it; use --external-data always",
                                     name, key, kGenaiConfigName));
      }
      bool changed = false;
      const Json updated = location_json(*location);
      for (const auto& [field, value] : updated.items()) {
        if (!entry.contains(field) || entry[field] != value) {
          entry[field] = value;
          changed = true;
        }
      }
      if (changed) changed_.push_back(key);
    }
  }

  const LocateTensor& locate_;
  std::vector<std::string> changed_;
};

}  // namespace

GenaiConfig read_genai_config(const fs::path& folder) {
  GenaiConfig config;
  config.path = folder / kGenaiConfigName;
  std::error_code error;
  if (!fs::is_regular_file(config.path, error)) {
    throw ModelError(fmt::format("'{}' has no {}, so it is not an ONNX Runtime GenAI model folder; give a .onnx file "
                                 "or a folder that the GenAI model builder wrote",
                                 folder.string(), kGenaiConfigName));
  }
  std::ifstream stream(config.path, std::ios::binary);
  std::ostringstream bytes;
  bytes << stream.rdbuf();
  if (!stream.good() && !stream.eof()) {
    throw IoError(fmt::format("cannot read '{}': {}", config.path.string(), std::strerror(errno)));
  }
  config.text = bytes.str();
  try {
    config.value = Json::parse(config.text);
  } catch (const Json::parse_error& parse_error) {
    throw ModelError(fmt::format("'{}' is not valid JSON: {}", config.path.string(), parse_error.what()));
  }
  if (!config.value.is_object() || !config.value.contains("model") || !config.value["model"].is_object()) {
    throw ModelError(fmt::format("'{}' has no \"model\" object, so it is not a GenAI configuration",
                                 config.path.string()));
  }
  return config;
}

std::vector<FolderModel> find_models(const Json& config) {
  ModelCollector collector;
  collector.visit(config.at("model"), Pointer("/model"));
  std::vector<FolderModel> models = collector.take();
  if (models.empty()) {
    throw ModelError(fmt::format("{} names no model: no section under \"model\" has a \"filename\"", kGenaiConfigName));
  }
  return models;
}

fs::path resolve_model_path(const fs::path& folder, const FolderModel& model) {
  const std::string& key = model.config_keys.front();
  fs::path current = folder;
  for (const auto& part : fs::path(model.file).lexically_normal()) {
    current /= part;
    std::error_code error;
    const fs::file_status status = fs::symlink_status(current, error);
    if (!fs::exists(status)) {
      throw IoError(fmt::format("{} names the model '{}' at {}, but '{}' does not exist", kGenaiConfigName, model.file,
                                key, current.string()));
    }
    if (fs::is_symlink(status)) {
      throw ModelError(fmt::format("the model '{}' ({}) is reached through the symbolic link '{}'; model files must be "
                                   "inside the folder (copy it with 'cp -rL' to resolve links)",
                                   model.file, key, current.string()));
    }
  }
  std::error_code error;
  if (!fs::is_regular_file(fs::symlink_status(current, error))) {
    throw ModelError(fmt::format("the model '{}' ({}) is not a regular file", model.file, key));
  }
  return current;
}

std::vector<std::string> update_shared_initializers(Json& config, const LocateTensor& locate) {
  SharedInitializerUpdater updater(locate);
  updater.visit(config.at("model"), Pointer("/model"));
  return updater.take();
}

}  // namespace onnxquant::folder
