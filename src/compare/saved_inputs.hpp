// The inputs of an evaluation saved for reuse: FOLDER/test_data_set_K/input_I.pb, the layout of the
// ONNX backend tests, which --inputs FOLDER reads back.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "compare/input_generator.hpp"

namespace onnxquant::compare {

// Writes into a temporary folder next to the destination and renames it into place on commit, so
// the destination never contains part of the samples.
class SavedInputsFolder {
 public:
  // Throws UsageError when `folder` exists and is not an empty folder, and IoError when its parent
  // folder does not exist. Nothing is created yet.
  explicit SavedInputsFolder(std::filesystem::path folder);
  SavedInputsFolder(const SavedInputsFolder&) = delete;
  SavedInputsFolder& operator=(const SavedInputsFolder&) = delete;
  // Removes the temporary folder unless commit() succeeded.
  ~SavedInputsFolder();

  // Writes input_I.pb for the I-th name of `input_order`, one test_data_set_K folder per sample.
  // Each TensorProto carries its input's name. Throws IoError when a write fails.
  void write(const std::vector<Feeds>& samples, const std::vector<std::string>& input_order);
  // Renames the temporary folder to the destination (replacing an empty folder there).
  void commit();

 private:
  std::filesystem::path folder_;
  std::filesystem::path temporary_;
  bool committed_ = false;
};

}  // namespace onnxquant::compare
