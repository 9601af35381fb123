// Load, quantize, check and save: the library entry point behind `onnxquant quantize`.
#include <chrono>
#include <fmt/format.h>
#include <optional>
#include <onnx/checker.h>
#include <spdlog/spdlog.h>

#include "compare/evaluate.hpp"
#include "compare/saved_inputs.hpp"
#include "graph/opset.hpp"
#include "onnxquant/errors.hpp"
#include "io/atomic_file.hpp"
#include "io/external_placeholders.hpp"
#include "io/output_paths.hpp"
#include "io/tensor_store.hpp"
#include "onnxquant/quantize.hpp"

namespace onnxquant {
namespace fs = std::filesystem;

namespace {

using io::check_output_path;
using io::reject_overwriting_external_data;
using io::same_file;

bool checker_knows(const onnx::ModelProto& model) {
  return graph::opset_version(model, "") <= graph::checker_max_opset() &&
         model.ir_version() <= graph::checker_max_ir_version();
}

// Runs the ONNX checker; returns the error message, or an empty string when the model passes.
// External tensors get placeholders meanwhile, because the checker looks for their files relative
// to the working folder.
std::string check(onnx::ModelProto& model) {
  const io::ExternalPlaceholders placeholders(model);
  std::string error;
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& exception) {
    error = exception.what();
  }
  placeholders.restore(model);
  return error;
}

// Whether the output keeps its data in an external file that can be written from the start, so
// that passes move each finished tensor there. kAuto decides on the size of an inline model only
// when it is saved.
bool streams_output(const Model& model, ExternalDataMode mode) {
  return mode == ExternalDataMode::kAlways || (mode == ExternalDataMode::kAuto && !model.external_files.empty());
}

// Runs the input model and the quantized model through the reference evaluator, fills
// report.evaluation and writes the inputs under the temporary name of `saved_inputs`.
void evaluate_quantized(const onnx::ModelProto& original, const onnx::ModelProto& quantized, const fs::path& input,
                        const fs::path& output, const EvaluationOptions& options, Report& report,
                        compare::SavedInputsFolder* saved_inputs) {
  spdlog::info("evaluating the quantized model against the input model");
  compare::Evaluation evaluation = compare::evaluate(original, fmt::format("the input model '{}'", input.string()),
                                                     quantized, "the quantized model", options);
  evaluation.report.reference_path = input.string();
  evaluation.report.candidate_path = output.string();
  report.evaluation = std::move(evaluation.report);
  if (saved_inputs != nullptr) saved_inputs->write(evaluation.samples, evaluation.input_order);
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
  std::optional<compare::SavedInputsFolder> saved_inputs;
  if (options.evaluation) {
    validate_evaluation_options(*options.evaluation);
    const fs::path& folder = options.evaluation->save_inputs;
    for (const fs::path& file : {output, data_path, options.report_path}) {
      if (!folder.empty() && !file.empty() && same_file(folder, file)) {
        throw UsageError(fmt::format("--save-inputs '{}' is the path of another output; choose another one",
                                     folder.string()));
      }
    }
    if (!folder.empty()) saved_inputs.emplace(folder);
  }

  spdlog::info("loading {}", input.string());
  LoadOptions load_options;
  // The evaluator and the calibration runs read every tensor from memory, so with them the whole
  // model is read.
  // NOTE: evaluation and calibration therefore need memory for the whole model (twice with evaluation).
  const bool runs_evaluator = options.evaluation || !options.quantize.calibration_data.empty();
  load_options.external_data = runs_evaluator ? ExternalDataLoading::kRead : ExternalDataLoading::kMap;
  Model model = load_model(input, load_options);
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

  // quantize_model rewrites the model in place, so the evaluation needs a copy of the input. The
  // evaluator reads every tensor from memory, so an evaluated output is not streamed.
  std::optional<onnx::ModelProto> original;
  if (options.evaluation) original = model.proto;
  if (!options.evaluation && streams_output(model, options.external_data)) model.store->open_output(data_path);
  quantize_model(model, options.quantize, report, options.progress);

  if (check_input && input_error.empty() && checker_knows(model.proto)) {
    const std::string output_error = check(model.proto);
    if (!output_error.empty()) {
      throw std::runtime_error("the quantized model does not pass the ONNX checker, so it was not written: " +
                               output_error);
    }
    spdlog::debug("the quantized model passes the ONNX checker");
  }
  if (options.evaluation) {
    evaluate_quantized(*original, model.proto, input, output, *options.evaluation, report,
                       saved_inputs ? &*saved_inputs : nullptr);
    original.reset();
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
      report_file->write(format_report_for_path(report, options.report_path));
    } catch (const IoError& error) {
      throw IoError(fmt::format("cannot write the report, so the model was not written either: {}", error.what()));
    }
  };
  save_model(model, output, save_options);
  if (report_file) {
    report_file->commit();
    spdlog::info("report written to {}", options.report_path.string());
  }
  if (saved_inputs) {
    saved_inputs->commit();
    spdlog::info("inputs written to {}", options.evaluation->save_inputs.string());
  }
  return report;
}

}  // namespace onnxquant
