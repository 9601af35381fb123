#include "compare/input_files.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fmt/format.h>
#include <optional>

#include "io/quoted_name.hpp"
#include "io/tensor_file.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::compare {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kSampleFolderPrefix = "test_data_set_";
constexpr std::string_view kInputFilePrefix = "input_";

// The number after `prefix` in `name`, when the rest of the name is only digits.
std::optional<size_t> number_after(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix) || name.size() == prefix.size()) return std::nullopt;
  const std::string_view digits = name.substr(prefix.size());
  size_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

bool is_existing_folder(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

// input_I.pb and input_I.npy files of one sample folder, by index I.
std::map<size_t, fs::path> input_files_in(const fs::path& folder) {
  std::map<size_t, fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string extension = entry.path().extension().string();
    if (extension != ".pb" && extension != ".npy") continue;
    const auto index = number_after(entry.path().stem().string(), kInputFilePrefix);
    if (!index) continue;
    if (files.count(*index) > 0) {
      throw UsageError(fmt::format("folder '{}' has both '{}' and '{}'; keep one of them", folder.string(),
                                   files[*index].filename().string(), entry.path().filename().string()));
    }
    files[*index] = entry.path();
  }
  return files;
}

void read_sample_folder(const fs::path& folder, const std::vector<eval::ValueDescription>& inputs,
                        InputSamples& samples) {
  const std::map<size_t, fs::path> files = input_files_in(folder);
  for (const auto& [index, path] : files) {
    if (index >= inputs.size()) {
      throw UsageError(fmt::format("folder '{}' has '{}' but the model has {} input(s), input_0 to input_{}",
                                   folder.string(), path.filename().string(), inputs.size(), inputs.size() - 1));
    }
  }
  Feeds feeds;
  std::map<std::string, std::string> sources;
  for (size_t index = 0; index < inputs.size(); ++index) {
    const auto found = files.find(index);
    if (found == files.end()) {
      throw UsageError(fmt::format("folder '{}' has no input_{}.pb or input_{}.npy for input {}", folder.string(), index,
                                   index, io::quoted_name(inputs[index].name)));
    }
    feeds[inputs[index].name] = io::read_tensor_file(found->second);
    sources[inputs[index].name] = found->second.string();
    samples.files.push_back(found->second.string());
  }
  samples.samples.push_back(std::move(feeds));
  samples.sources.push_back(std::move(sources));
}

void read_folder(const fs::path& folder, const std::vector<eval::ValueDescription>& inputs, InputSamples& samples) {
  std::map<size_t, fs::path> sample_folders;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const auto index = number_after(entry.path().filename().string(), kSampleFolderPrefix);
    if (index && entry.is_directory()) sample_folders[*index] = entry.path();
  }
  const bool flat = !input_files_in(folder).empty();
  if (flat && !sample_folders.empty()) {
    throw UsageError(fmt::format("folder '{}' has both input_I files and test_data_set_K folders; give one of them",
                                 folder.string()));
  }
  if (flat) return read_sample_folder(folder, inputs, samples);
  if (sample_folders.empty()) {
    throw UsageError(fmt::format("folder '{}' has no input_0.pb or input_0.npy file and no test_data_set_0 folder",
                                 folder.string()));
  }
  for (const auto& [index, sample_folder] : sample_folders) read_sample_folder(sample_folder, inputs, samples);
}

void read_named_files(const std::vector<std::string>& entries, const std::vector<eval::ValueDescription>& inputs,
                      const std::string& option, InputSamples& samples) {
  Feeds feeds;
  std::map<std::string, std::string> sources;
  for (const auto& entry : entries) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos) {
      throw UsageError(fmt::format("{} '{}' is neither NAME=FILE nor a folder; use NAME=FILE to give a file, "
                                   "or the path of an existing folder",
                                   option, entry));
    }
    const std::string name = entry.substr(0, equals);
    const std::string file = entry.substr(equals + 1);
    const bool known = std::any_of(inputs.begin(), inputs.end(), [&](const auto& input) { return input.name == name; });
    if (!known) {
      std::vector<std::string> names;
      for (const auto& input : inputs) names.push_back(input.name);
      throw UsageError(fmt::format("{} '{}': the model has no input {}; its inputs are '{}'", option, entry,
                                   io::quoted_name(name), fmt::join(names, "', '")));
    }
    if (feeds.count(name) > 0) {
      throw UsageError(fmt::format("{} names input {} twice", option, io::quoted_name(name)));
    }
    feeds[name] = io::read_tensor_file(file);
    sources[name] = file;
    samples.files.push_back(file);
  }
  for (const auto& input : inputs) {
    if (feeds.count(input.name) == 0) {
      throw UsageError(fmt::format("{} gives no file for input {}; add {} {}=FILE", option,
                                   io::quoted_name(input.name), option, input.name));
    }
  }
  samples.samples.push_back(std::move(feeds));
  samples.sources.push_back(std::move(sources));
}

}  // namespace

InputSamples read_input_folder(const fs::path& folder, const std::vector<eval::ValueDescription>& inputs,
                               const std::string& option) {
  std::error_code error;
  if (!fs::exists(folder, error)) {
    throw IoError(fmt::format("{} folder '{}' not found", option, folder.string()));
  }
  if (!is_existing_folder(folder)) throw UsageError(fmt::format("{} '{}' is not a folder", option, folder.string()));
  InputSamples samples;
  try {
    read_folder(folder, inputs, samples);
  } catch (const fs::filesystem_error& failure) {
    throw IoError(fmt::format("cannot read the {} folder '{}': {}", option, folder.string(), failure.code().message()));
  }
  return samples;
}

InputSamples read_input_files(const std::vector<std::string>& entries, const std::vector<eval::ValueDescription>& inputs,
                              const std::string& option) {
  for (const auto& entry : entries) {
    if (is_existing_folder(entry)) {
      if (entries.size() == 1) return read_input_folder(entry, inputs, option);
      throw UsageError(
          fmt::format("{} '{}' is a folder; give one folder alone, or NAME=FILE entries only", option, entry));
    }
    // An entry without '=' can only be a folder, so a missing one is not found rather than invalid.
    std::error_code error;
    if (entry.find('=') == std::string::npos && !fs::exists(entry, error)) {
      throw IoError(fmt::format("{} folder '{}' not found", option, entry));
    }
  }
  InputSamples samples;
  read_named_files(entries, inputs, option, samples);
  return samples;
}

}  // namespace onnxquant::compare
