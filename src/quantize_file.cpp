// Load, quantize, check and save: the library entry point behind `onnxquant quantize`.
#include <chrono>
#include <fmt/format.h>
#include <onnx/checker.h>
#include <spdlog/spdlog.h>

#include "graph/opset.hpp"
#include "onnxquant/errors.hpp"
#include "io/atomic_file.hpp"
#include "onnxquant/quantize.hpp"

namespace onnxquant {
namespace fs = std::filesystem;

namespace {

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error);
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);
}

// Rejects an output path that cannot be written or would overwrite an input, before any work.
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

bool checker_knows(const onnx::ModelProto& model) {
  return graph::opset_version(model, "") <= graph::checker_max_opset() &&
         model.ir_version() <= graph::checker_max_ir_version();
}

// Runs the ONNX checker; returns the error message, or an empty string when the model passes.
std::string check(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    return {};
  } catch (const std::exception& error) {
    return error.what();
  }
}

}  // namespace

Report quantize_file(const fs::path& input, const fs::path& output, const QuantizeFileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  validate_options(options.quantize);
  check_output_path(output, "output", input);
  const fs::path data_path = external_data_path_for(output);
  if (!options.report_path.empty()) {
    check_output_path(options.report_path, "report", input);
    if (same_file(options.report_path, output) || same_file(options.report_path, data_path)) {
      throw UsageError(fmt::format("the report '{}' would overwrite the output model; choose another path",
                                   options.report_path.string()));
    }
  }

  spdlog::info("loading {}", input.string());
  Model model = load_model(input);
  reject_overwriting_external_data(model, output, "output");
  reject_overwriting_external_data(model, data_path, "output's external data");
  if (!options.report_path.empty()) reject_overwriting_external_data(model, options.report_path, "report");

  Report report;
  report.input_path = input.string();
  report.output_path = output.string();
  report.model_bytes_before = model.total_bytes;

  const bool check_input = checker_knows(model.proto);
  const std::string input_error = check_input ? check(model.proto) : std::string();
  if (!input_error.empty()) {
    report.notes.push_back("the input model does not pass the ONNX checker, so the output is not checked either: " +
                           input_error);
    spdlog::warn("{}", report.notes.back());
  }

  quantize_model(model.proto, options.quantize, report);

  if (check_input && input_error.empty() && checker_knows(model.proto)) {
    const std::string output_error = check(model.proto);
    if (!output_error.empty()) {
      throw std::runtime_error("the quantized model does not pass the ONNX checker, so it was not written: " +
                               output_error);
    }
    spdlog::debug("the quantized model passes the ONNX checker");
  }

  SaveOptions save_options;
  save_options.external_data = options.external_data;
  save_options.input_had_external_data = !model.external_files.empty();
  // The report is written under a temporary name before the model is renamed into place, so a
  // report that cannot be written leaves no new model behind.
  std::unique_ptr<io::AtomicFile> report_file;
  save_options.before_commit = [&](const SaveResult& saved) {
    report.model_bytes_after = saved.model_bytes + saved.external_data_bytes;
    report.wall_time_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options.report_path.empty()) return;
    try {
      report_file = std::make_unique<io::AtomicFile>(options.report_path);
      report_file->write(report_to_json(report));
    } catch (const IoError& error) {
      throw IoError(fmt::format("cannot write the report, so the model was not written either: {}", error.what()));
    }
  };
  save_model(model.proto, output, save_options);
  if (report_file) {
    report_file->commit();
    spdlog::info("report written to {}", options.report_path.string());
  }
  return report;
}

}  // namespace onnxquant
