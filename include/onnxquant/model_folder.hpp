// Quantization of ONNX Runtime GenAI model folders: genai_config.json, the ONNX models it names, and
// every other file (tokenizer, chat template, processor configuration).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "onnxquant/quantize.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant {

inline constexpr const char* kGenaiConfigName = "genai_config.json";

// One ONNX model that genai_config.json names.
struct FolderModel {
  // The path relative to the folder, as the configuration writes it ("model.onnx").
  std::string file;
  // JSON pointers of the "filename" entries that name this file ("/model/decoder/filename").
  std::vector<std::string> config_keys;
  // Names listed in the "shared_initializers" arrays of the sections that name this file.
  std::vector<std::string> shared_initializers;
};

struct FolderModelReport {
  FolderModel model;
  Report report;
};

struct FolderReport {
  std::string input_folder;
  std::string output_folder;
  std::vector<FolderModelReport> models;
  // Files copied unchanged, relative to the folder.
  std::vector<std::string> copied_files;
  // JSON pointers of the genai_config.json values that were rewritten; empty when it was copied as is.
  std::vector<std::string> config_changes;
  std::vector<std::string> notes;
  // All regular files of the folder, before and after.
  uint64_t folder_bytes_before = 0;
  uint64_t folder_bytes_after = 0;
  double wall_time_seconds = 0.0;
};

// Whether `path` is a folder (with or without genai_config.json); the command line uses it to choose
// between quantize_file and quantize_folder.
bool is_model_folder_path(const std::filesystem::path& path);

// Reads `folder`/genai_config.json and returns the models it names, in the order of the file. Throws
// ModelError when the configuration is missing, is not valid JSON, has no "model" object, names no
// model or names one with an unsafe path (absolute, with "..", or through a symbolic link), and
// IoError when a named model file does not exist.
std::vector<FolderModel> list_folder_models(const std::filesystem::path& folder);

// Quantizes every model that `input`/genai_config.json names with the same options, and writes a
// complete copy of the folder to `output`: the quantized models under their own names (with
// external data as options.external_data sets), genai_config.json (rewritten only where its values
// describe the data files, see docs/genai.md), and every other file copied. The output is built in a
// temporary folder next to `output` and renamed into place at the end, so a failure leaves no
// output. Before any work it rejects (UsageError) an output that exists and is not an empty folder,
// is the input or inside it, and a report path inside either folder. options.report_path receives
// the folder report (folder_report_to_json). The input folder is never modified.
FolderReport quantize_folder(const std::filesystem::path& input, const std::filesystem::path& output,
                             const QuantizeFileOptions& options);

// The folder report as JSON: the folder, the copied files and each model's report in the schema of
// report_to_json (docs/report-schema.md).
std::string folder_report_to_json(const FolderReport& report);
// One report table per model, then a summary of the folder.
std::string format_folder_report_table(const FolderReport& report);

}  // namespace onnxquant
