// Model inputs read from files that the user names with --inputs.
#pragma once

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
// in order of K). Throws UsageError for entries that mix the two forms, name an unknown input, name
// an input twice or leave one out, and for folders with missing, duplicate or extra input_I files.
// Throws IoError for missing files, and the errors of io::read_tensor_file for invalid ones.
InputSamples read_input_files(const std::vector<std::string>& entries, const std::vector<eval::ValueDescription>& inputs);

}  // namespace onnxquant::compare
