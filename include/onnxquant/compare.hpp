// Comparison of two models on the same inputs, behind `onnxquant compare`.
#pragma once

#include <filesystem>
#include <string>

#include <onnx/onnx_pb.h>

#include "onnxquant/evaluation.hpp"

namespace onnxquant {

// The compare report is its own JSON document: schema "onnxquant.compare" (docs/report-schema.md).
inline constexpr int kCompareReportSchemaVersion = 1;

// Runs `reference` and `candidate` with the reference evaluator on the inputs that `options`
// selects and returns the figures of every output and the gate violations. Writes the inputs to
// options.save_inputs when it is set. Throws ModelError when a model cannot be evaluated (the message
// names the first unsupported node) or the two models' inputs and outputs differ; UsageError for
// invalid options or input files; IoError for missing or unreadable files.
EvaluationReport compare_models(const onnx::ModelProto& reference, const onnx::ModelProto& candidate,
                                const EvaluationOptions& options);

struct CompareFileOptions {
  EvaluationOptions evaluation;
  // When not empty, the JSON report is written here.
  std::filesystem::path report_path;
};

// Loads both models (with their external data) and compares them as compare_models does. The report
// and the saved inputs are written even when a gate fails, and only when the whole evaluation
// succeeded. Before any work it rejects (UsageError) a report path that is a folder, one of the
// models or their external data files, or the --save-inputs folder.
EvaluationReport compare_files(const std::filesystem::path& reference, const std::filesystem::path& candidate,
                               const CompareFileOptions& options);

// The compare report as JSON text, schema "onnxquant.compare" version kCompareReportSchemaVersion.
std::string compare_report_to_json(const EvaluationReport& report);

}  // namespace onnxquant
