// Model inputs read from files that the user names with --inputs.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "compare/input_generator.hpp"
#include "eval/session.hpp"

namespace onnxquant::compare {

struct InputSamples {
  std::vector<Feeds> samples;
  // Per sample: input name -> the file its tensor came from.
  std::vector<std::map<std::string, std::string>> sources;
  std::vector<std::string> files;  // every file read, in reading order
};

// Reads one sample from NAME=FILE entries (one per input), or the samples of one folder in the
// ONNX backend test layout: input_I.pb or input_I.npy files for the I-th input (in graph order),
// either directly in the folder (one sample) or in its test_data_set_K subfolders (one sample each,
// in order of K). A single entry without '=' is a folder. Throws UsageError for entries that mix the
// two forms, name an unknown input, name an input twice or leave one out, and for folders with
// missing, duplicate or extra input_I files. Throws IoError for missing files and folders, and the
// errors of io::read_tensor_file for invalid ones. `option` names the entries' option in messages.
InputSamples read_input_files(const std::vector<std::string>& entries, const std::vector<eval::ValueDescription>& inputs,
                              const std::string& option);

// Reads the samples of one folder, as read_input_files does. Throws IoError when the folder does
// not exist and UsageError when `folder` is not a folder.
InputSamples read_input_folder(const std::filesystem::path& folder, const std::vector<eval::ValueDescription>& inputs,
                               const std::string& option);

}  // namespace onnxquant::compare
