// quantize_folder: every model that genai_config.json names, then the configuration and the other
// files, staged in a temporary folder that is renamed into place.
#include <chrono>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <set>
#include <spdlog/spdlog.h>

#include "folder/folder_files.hpp"
#include "folder/genai_config.hpp"
#include "io/atomic_file.hpp"
#include "io/external_data.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model_folder.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant {
namespace fs = std::filesystem;

namespace {

// The initializers of one output model that are stored in external data, by name.
using ExternalTensors = std::map<std::string, folder::TensorLocation>;

ExternalTensors external_tensors(const fs::path& model_path, const fs::path& output_root) {
  LoadOptions options;
  options.external_data = ExternalDataLoading::kMap;
  const Model model = load_model(model_path, options);
  ExternalTensors tensors;
  const fs::path model_folder = model_path.parent_path().lexically_relative(output_root);
  for (const auto& tensor : model.proto.graph().initializer()) {
    if (tensor.data_location() != onnx::TensorProto::EXTERNAL) continue;
    const io::ExternalDataLocation location = io::parse_external_data(tensor);
    folder::TensorLocation entry;
    entry.data_file = (model_folder / location.location).lexically_normal().string();
    entry.offset = location.offset;
    entry.length = location.length;
    entry.data_type = tensor.data_type();
    entry.shape.assign(tensor.dims().begin(), tensor.dims().end());
    tensors.emplace(tensor.name(), std::move(entry));
  }
  return tensors;
}

// Rewrites the shared_initializers entries of the configuration with the locations in the output
// models. An entry keeps pointing at its former data file when an output model still stores the
// tensor there, so that sections that shared one copy still do.
// NOTE: no GenAI run covers this; the tests check the entries against the output files only.
std::vector<std::string> update_config(nlohmann::ordered_json& config, const std::vector<ExternalTensors>& outputs) {
  auto locate = [&](const std::string& name, const std::string& preferred) -> std::optional<folder::TensorLocation> {
    std::optional<folder::TensorLocation> first;
    for (const auto& tensors : outputs) {
      const auto found = tensors.find(name);
      if (found == tensors.end()) continue;
      if (found->second.data_file == preferred) return found->second;
      if (!first) first = found->second;
    }
    return first;
  };
  return folder::update_shared_initializers(config, locate);
}

void write_config(const folder::GenaiConfig& config, const std::vector<std::string>& changes, const fs::path& output) {
  io::AtomicFile file(output / kGenaiConfigName);
  // An unchanged configuration keeps its bytes; a changed one is written as the GenAI model
  // builder writes it, with an indent of 4.
  file.write(changes.empty() ? config.text : config.value.dump(4) + "\n");
  file.commit();
}

QuantizeFileOptions model_options(const QuantizeFileOptions& options, const FolderModel& model) {
  QuantizeFileOptions result = options;
  result.report_path.clear();
  // GenAI shares these tensors between sessions by their name and place in the data file, so they
  // keep their float data.
  for (const auto& name : model.shared_initializers) result.quantize.exclude.push_back(name);
  return result;
}

Report quantize_one(const fs::path& input, const fs::path& staging, const fs::path& output, const FolderModel& model,
                    const QuantizeFileOptions& options, std::set<fs::path>& skip) {
  const fs::path source = folder::resolve_model_path(input, model);
  const fs::path relative = fs::path(model.file).lexically_normal();
  const fs::path target = staging / relative;
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error) {
    throw IoError(fmt::format("cannot create the folder '{}': {}", target.parent_path().string(), error.message()));
  }

  Report report = quantize_file(source, target, model_options(options, model));
  report.output_path = (output / relative).string();

  skip.insert(fs::canonical(source));
  LoadOptions locate_only;
  locate_only.external_data = ExternalDataLoading::kMap;
  for (const auto& file : load_model(source, locate_only).external_files) skip.insert(file);
  return report;
}

void write_report(const FolderReport& report, const fs::path& path, std::unique_ptr<io::AtomicFile>& file) {
  try {
    file = std::make_unique<io::AtomicFile>(path);
    file->write(folder_report_to_json(report));
  } catch (const IoError& error) {
    throw IoError(fmt::format("cannot write the report, so the folder was not written either: {}", error.what()));
  }
}

}  // namespace

bool is_model_folder_path(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

std::vector<FolderModel> list_folder_models(const fs::path& folder) {
  const folder::GenaiConfig config = folder::read_genai_config(folder);
  std::vector<FolderModel> models = folder::find_models(config.value);
  for (const auto& model : models) folder::resolve_model_path(folder, model);
  return models;
}

FolderReport quantize_folder(const fs::path& input, const fs::path& output, const QuantizeFileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  validate_options(options.quantize);
  if (!is_model_folder_path(input)) throw IoError(fmt::format("the folder '{}' does not exist", input.string()));
  folder::check_output_folder(input, output);
  if (!options.report_path.empty()) folder::check_report_path(options.report_path, input, output);
  // TODO: render the folder report as HTML and evaluate folder models; both are single-model only.
  if (!options.report_path.empty() && is_html_report_path(options.report_path)) {
    throw UsageError(fmt::format("--report '{}': a folder's report is JSON only; give a path that does not end in "
                                 ".html, or quantize the model file to get an HTML report",
                                 options.report_path.string()));
  }
  if (options.evaluation) {
    throw UsageError("--eval-samples and --eval-inputs apply to a model file, not a folder; run onnxquant compare "
                     "on the input and output models instead");
  }

  folder::GenaiConfig config = folder::read_genai_config(input);
  const std::vector<FolderModel> models = folder::find_models(config.value);
  for (const auto& model : models) folder::resolve_model_path(input, model);

  FolderReport report;
  report.input_folder = input.string();
  report.output_folder = output.string();
  report.folder_bytes_before = folder::folder_bytes(input);

  folder::StagingFolder staging(output);
  std::set<fs::path> skip = {fs::canonical(config.path)};
  std::vector<ExternalTensors> outputs;
  for (std::size_t index = 0; index < models.size(); ++index) {
    const FolderModel& model = models[index];
    spdlog::info("model {}/{}: {} ({})", index + 1, models.size(), model.file, fmt::join(model.config_keys, ", "));
    Report model_report = quantize_one(input, staging.path(), output, model, options, skip);
    if (!model.shared_initializers.empty()) {
      report.notes.push_back(fmt::format("{}: {} shared initializer(s) stay float, because GenAI shares them between "
                                         "sessions by their place in the data file",
                                         model.file, model.shared_initializers.size()));
    }
    report.models.push_back({model, std::move(model_report)});
    outputs.push_back(external_tensors(staging.path() / fs::path(model.file).lexically_normal(), staging.path()));
  }

  report.config_changes = update_config(config.value, outputs);
  write_config(config, report.config_changes, staging.path());
  report.copied_files = folder::copy_other_files(input, staging.path(), skip);
  report.folder_bytes_after = folder::folder_bytes(staging.path());
  report.wall_time_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::unique_ptr<io::AtomicFile> report_file;
  if (!options.report_path.empty()) write_report(report, options.report_path, report_file);
  staging.commit();
  if (report_file) {
    report_file->commit();
    spdlog::info("report written to {}", options.report_path.string());
  }
  spdlog::info("wrote {}: {} model(s), {} other file(s), {} {}", output.string(), report.models.size(),
               report.copied_files.size(), kGenaiConfigName,
               report.config_changes.empty() ? "copied unchanged" : "updated");
  return report;
}

}  // namespace onnxquant
