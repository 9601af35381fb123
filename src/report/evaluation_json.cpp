#include "report/evaluation_json.hpp"

#include <cmath>

#include "onnxquant/compare.hpp"
#include "onnxquant/version.hpp"

namespace onnxquant {
namespace {

using nlohmann::json;

json optional_json(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json output_json(const OutputEvaluation& output) {
  const auto logits_only = [&](const json& value) { return output.logits ? value : json(nullptr); };
  return {
      {"name", output.name},
      {"dtype_reference", output.dtype_reference},
      {"dtype_candidate", output.dtype_candidate},
      {"shape", output.shape},
      {"elements", output.elements},
      {"compared_elements", output.compared_elements},
      {"max_abs_error", finite_or_null(output.max_abs_error)},
      {"mean_abs_error", finite_or_null(output.mean_abs_error)},
      {"relative_l2_error", finite_or_null(output.relative_l2_error)},
      {"cosine_similarity", finite_or_null(output.cosine_similarity)},
      {"nonfinite_mismatches", output.nonfinite_mismatches},
      {"logits", output.logits},
      {"rows", logits_only(output.rows)},
      {"top1_agreement", logits_only(finite_or_null(output.top1_agreement))},
      {"kl_divergence", logits_only(finite_or_null(output.kl_divergence))},
      {"kl_divergence_max", logits_only(finite_or_null(output.kl_divergence_max))},
  };
}

json violation_json(const GateViolation& violation) {
  return {
      {"gate", violation.gate},
      {"output", violation.output.empty() ? json(nullptr) : json(violation.output)},
      {"value", finite_or_null(violation.value)},
      {"limit", violation.limit},
      {"message", describe_violation(violation)},
  };
}

}  // namespace

json evaluation_json(const EvaluationReport& report) {
  json outputs = json::array();
  for (const auto& output : report.outputs) outputs.push_back(output_json(output));
  json violations = json::array();
  for (const auto& violation : report.violations) violations.push_back(violation_json(violation));

  return {
      {"reference", report.reference_path},
      {"candidate", report.candidate_path},
      {"inputs",
       {
           {"source", report.input_source},
           {"samples", report.samples},
           {"seed", report.seed ? json(*report.seed) : json(nullptr)},
           {"files", report.input_files},
           {"dims", report.dims},
       }},
      {"vocab_size", report.vocab_size > 0 ? json(report.vocab_size) : json(nullptr)},
      {"vocab_source", report.vocab_source},
      {"outputs", outputs},
      {"gates",
       {
           {"max_kl", optional_json(report.gates.max_kl)},
           {"min_cosine", optional_json(report.gates.min_cosine)},
           {"max_abs_error", optional_json(report.gates.max_abs_error)},
           {"min_top1", optional_json(report.gates.min_top1)},
       }},
      {"violations", violations},
      {"passed", report.violations.empty()},
      {"wall_time_seconds", report.wall_time_seconds},
  };
}

std::string compare_report_to_json(const EvaluationReport& report) {
  const json document = {
      {"schema", "onnxquant.compare"},
      {"schema_version", kCompareReportSchemaVersion},
      {"tool", {{"name", "onnxquant"}, {"version", kVersion}}},
      {"evaluation", evaluation_json(report)},
  };
  // Names from the model need not be valid UTF-8, so invalid bytes become U+FFFD.
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace onnxquant
