// An evaluation with the reference evaluator: both models run on the same generated or given inputs.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "compare/input_generator.hpp"
#include "onnxquant/evaluation.hpp"

namespace onnxquant::compare {

struct Evaluation {
  EvaluationReport report;
  std::vector<Feeds> samples;
  std::vector<std::string> input_order;  // the reference's input names, in graph order
};

// Runs `reference` and `candidate` on the inputs that `options` selects and measures every output.
// The labels name the models in messages. The report's paths are left empty and nothing is written.
// Throws ModelError when a model cannot be evaluated (naming the first unsupported node) or the
// models' inputs and outputs differ; UsageError and IoError for invalid options and input files.
Evaluation evaluate(const onnx::ModelProto& reference, const std::string& reference_label,
                    const onnx::ModelProto& candidate, const std::string& candidate_label,
                    const EvaluationOptions& options);

}  // namespace onnxquant::compare
