// The evaluation section of the JSON reports and the table printed for it.
#include <gtest/gtest.h>

#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "onnxquant/compare.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant {
namespace {

EvaluationReport sample_report() {
  EvaluationReport report;
  report.reference_path = "a.onnx";
  report.candidate_path = "b.onnx";
  report.input_source = "generated";
  report.samples = 2;
  report.seed = 7;
  report.dims = {{"batch", 1}, {"sequence", 16}};
  report.vocab_size = 512;
  report.vocab_source = "--vocab-size";

  OutputEvaluation logits;
  logits.name = "logits";
  logits.dtype_reference = "float32";
  logits.dtype_candidate = "float32";
  logits.shape = {1, 16, 512};
  logits.elements = 16384;
  logits.compared_elements = 16384;
  logits.max_abs_error = 0.25;
  logits.mean_abs_error = 0.01;
  logits.relative_l2_error = 0.02;
  logits.cosine_similarity = 0.9995;
  logits.logits = true;
  logits.rows = 32;
  logits.top1_agreement = 0.96875;
  logits.kl_divergence = 0.0012;
  logits.kl_divergence_max = 0.01;

  OutputEvaluation hidden;
  hidden.name = "hidden";
  hidden.shape = {1, 16, 8};
  hidden.cosine_similarity = std::numeric_limits<double>::quiet_NaN();
  hidden.max_abs_error = std::numeric_limits<double>::infinity();
  hidden.nonfinite_mismatches = 3;

  report.outputs = {logits, hidden};
  report.gates.min_top1 = 0.99;
  report.violations = check_gates(report.outputs, report.gates);
  return report;
}

TEST(EvaluationReport, CompareJsonDocument) {
  const auto document = nlohmann::json::parse(compare_report_to_json(sample_report()));
  EXPECT_EQ(document["schema"], "onnxquant.compare");
  EXPECT_EQ(document["schema_version"], kCompareReportSchemaVersion);
  const auto& evaluation = document["evaluation"];
  EXPECT_EQ(evaluation["reference"], "a.onnx");
  EXPECT_EQ(evaluation["inputs"]["source"], "generated");
  EXPECT_EQ(evaluation["inputs"]["seed"], 7);
  EXPECT_EQ(evaluation["inputs"]["dims"]["sequence"], 16);
  EXPECT_EQ(evaluation["vocab_size"], 512);

  const auto& logits = evaluation["outputs"][0];
  EXPECT_EQ(logits["name"], "logits");
  EXPECT_EQ(logits["top1_agreement"], 0.96875);
  EXPECT_EQ(logits["kl_divergence"], 0.0012);
  EXPECT_EQ(logits["rows"], 32);

  const auto& hidden = evaluation["outputs"][1];
  EXPECT_TRUE(hidden["cosine_similarity"].is_null());
  EXPECT_TRUE(hidden["max_abs_error"].is_null());
  EXPECT_TRUE(hidden["top1_agreement"].is_null());
  EXPECT_EQ(hidden["nonfinite_mismatches"], 3);

  EXPECT_EQ(evaluation["gates"]["min_top1"], 0.99);
  EXPECT_TRUE(evaluation["gates"]["max_kl"].is_null());
  EXPECT_FALSE(evaluation["passed"]);
  ASSERT_EQ(evaluation["violations"].size(), 1u);
  EXPECT_EQ(evaluation["violations"][0]["gate"], "--min-top1");
  EXPECT_EQ(evaluation["violations"][0]["output"], "logits");
  EXPECT_EQ(evaluation["violations"][0]["value"], 0.96875);
}

TEST(EvaluationReport, QuantizeReportSectionOnlyWhenEvaluated) {
  Report report;
  EXPECT_FALSE(nlohmann::json::parse(report_to_json(report)).contains("evaluation"));
  report.evaluation = sample_report();
  const auto document = nlohmann::json::parse(report_to_json(report));
  EXPECT_EQ(document["schema_version"], kReportSchemaVersion);
  EXPECT_EQ(document["evaluation"]["outputs"][0]["name"], "logits");
}

TEST(EvaluationReport, TableListsOutputsAndGates) {
  const std::string table = format_evaluation_table(sample_report());
  EXPECT_NE(table.find("2 generated sample(s), seed 7"), std::string::npos) << table;
  EXPECT_NE(table.find("0.999500"), std::string::npos) << table;
  EXPECT_NE(table.find("0.9688"), std::string::npos) << table;
  EXPECT_NE(table.find("3 value(s) are NaN or infinite"), std::string::npos) << table;
  EXPECT_NE(table.find("Accuracy gates FAILED (1 violation(s))"), std::string::npos) << table;
  EXPECT_NE(table.find("top-1 agreement 0.96875 is below the limit 0.99"), std::string::npos) << table;
}

// An output of NaN in both models: nothing is compared and no figure is defined.
EvaluationReport empty_comparison_report() {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  EvaluationReport report;
  report.input_source = "generated";
  report.samples = 1;
  OutputEvaluation logits;
  logits.name = "logits";
  logits.shape = {1, 4, 8};
  logits.elements = 32;
  logits.max_abs_error = kNaN;
  logits.mean_abs_error = kNaN;
  logits.relative_l2_error = kNaN;
  logits.cosine_similarity = kNaN;
  logits.logits = true;
  logits.rows = 4;
  logits.top1_agreement = kNaN;
  logits.kl_divergence = kNaN;
  report.outputs = {logits};
  report.gates.min_cosine = 1.0;
  report.violations = check_gates(report.outputs, report.gates);
  return report;
}

TEST(EvaluationReport, EmptyComparisonFiguresAreNull) {
  const auto document = nlohmann::json::parse(compare_report_to_json(empty_comparison_report()));
  const auto& logits = document["evaluation"]["outputs"][0];
  EXPECT_EQ(logits["elements"], 32);
  EXPECT_EQ(logits["compared_elements"], 0);
  for (const char* figure : {"max_abs_error", "mean_abs_error", "relative_l2_error", "cosine_similarity",
                             "top1_agreement", "kl_divergence"}) {
    EXPECT_TRUE(logits[figure].is_null()) << figure;
  }
  EXPECT_FALSE(document["evaluation"]["passed"]);
}

TEST(EvaluationReport, EmptyComparisonTableShowsDashes) {
  const std::string table = format_evaluation_table(empty_comparison_report());
  const size_t row = table.find("\nlogits ");
  ASSERT_NE(row, std::string::npos) << table;
  std::istringstream fields(table.substr(row + 1, table.find('\n', row + 1) - row - 1));
  std::vector<std::string> words{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
  // name, shape "[1, 4, 8]" as three words, then six figures
  ASSERT_EQ(words.size(), 10u) << table;
  for (size_t i = 4; i < words.size(); ++i) EXPECT_EQ(words[i], "-") << table;
  EXPECT_NE(table.find("nothing was compared"), std::string::npos) << table;
  EXPECT_NE(table.find("has no finite elements to compare, so --min-cosine cannot be checked"), std::string::npos)
      << table;
}

}  // namespace
}  // namespace onnxquant
