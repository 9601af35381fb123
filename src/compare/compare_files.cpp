// Load and compare two models: the library entry point behind `onnxquant compare`.
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <spdlog/spdlog.h>

#include "compare/evaluate.hpp"
#include "compare/saved_inputs.hpp"
#include "io/atomic_file.hpp"
#include "io/output_paths.hpp"
#include "onnxquant/compare.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant {
namespace fs = std::filesystem;

namespace {

std::string label_of(const fs::path& path) { return fmt::format("'{}'", path.string()); }

void check_report_path(const CompareFileOptions& options, const fs::path& reference, const fs::path& candidate) {
  if (options.report_path.empty()) return;
  io::check_output_path(options.report_path, "report", reference);
  io::check_output_path(options.report_path, "report", candidate);
  if (!options.evaluation.save_inputs.empty() && io::same_file(options.report_path, options.evaluation.save_inputs)) {
    throw UsageError(fmt::format("the report '{}' and --save-inputs are the same path; choose another one",
                                 options.report_path.string()));
  }
}

}  // namespace

EvaluationReport compare_models(const onnx::ModelProto& reference, const onnx::ModelProto& candidate,
                                const EvaluationOptions& options) {
  std::optional<compare::SavedInputsFolder> saved;
  if (!options.save_inputs.empty()) saved.emplace(options.save_inputs);
  compare::Evaluation evaluation = compare::evaluate(reference, "model A", candidate, "model B", options);
  if (saved) {
    saved->write(evaluation.samples, evaluation.input_order);
    saved->commit();
  }
  return evaluation.report;
}

EvaluationReport compare_files(const fs::path& reference, const fs::path& candidate, const CompareFileOptions& options) {
  validate_evaluation_options(options.evaluation);
  check_report_path(options, reference, candidate);
  std::optional<compare::SavedInputsFolder> saved;
  if (!options.evaluation.save_inputs.empty()) saved.emplace(options.evaluation.save_inputs);

  spdlog::info("loading {}", reference.string());
  const Model reference_model = load_model(reference);
  spdlog::info("loading {}", candidate.string());
  const Model candidate_model = load_model(candidate);
  if (!options.report_path.empty()) {
    io::reject_overwriting_external_data(reference_model, options.report_path, "report");
    io::reject_overwriting_external_data(candidate_model, options.report_path, "report");
  }

  compare::Evaluation evaluation = compare::evaluate(reference_model.proto, label_of(reference), candidate_model.proto,
                                                     label_of(candidate), options.evaluation);
  EvaluationReport& report = evaluation.report;
  report.reference_path = reference.string();
  report.candidate_path = candidate.string();

  // Both outputs are complete under temporary names before either is renamed into place.
  std::unique_ptr<io::AtomicFile> report_file;
  if (!options.report_path.empty()) {
    report_file = std::make_unique<io::AtomicFile>(options.report_path);
    report_file->write(compare_report_to_json(report));
  }
  if (saved) saved->write(evaluation.samples, evaluation.input_order);
  if (report_file) {
    report_file->commit();
    spdlog::info("report written to {}", options.report_path.string());
  }
  if (saved) {
    saved->commit();
    spdlog::info("inputs written to {}", options.evaluation.save_inputs.string());
  }
  return report;
}

}  // namespace onnxquant
