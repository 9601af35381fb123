// The HTML report: escaping, one chart bar per tensor, and a page that loads nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "onnxquant/report.hpp"
#include "report/html_escape.hpp"
#include "report/report_json.hpp"
#include "report/svg_chart.hpp"

namespace onnxquant {
namespace {

constexpr const char* kHostileName = "<script>alert(\"x\")</script> & 'w'";
constexpr const char* kHostileEscaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;w&#39;";

size_t count(const std::string& text, const std::string& pattern) {
  size_t found = 0;
  for (size_t at = text.find(pattern); at != std::string::npos; at = text.find(pattern, at + pattern.size())) ++found;
  return found;
}

// The text between the opening tag of the element with this id and the next "</section>".
std::string section_text(const std::string& page, const std::string& id) {
  const size_t start = page.find("<section id=\"" + id + "\">");
  if (start == std::string::npos) return {};
  return page.substr(start, page.find("</section>", start) - start);
}

TensorReport tensor(const std::string& name, double sqnr_db, uint64_t bytes_before, uint64_t bytes_after) {
  TensorReport entry;
  entry.name = name;
  entry.scope = "main";
  entry.nodes = {name + "_node"};
  entry.op_types = {"MatMul"};
  entry.shape = {64, 32};
  entry.dtype_before = "float32";
  entry.dtype_after = "int8";
  entry.elements = 64 * 32;
  entry.bytes_before = bytes_before;
  entry.bytes_after = bytes_after;
  entry.scheme = "per-tensor";
  entry.sqnr_db = sqnr_db;
  entry.cosine_similarity = 0.999;
  return entry;
}

Report sample_report() {
  Report report;
  report.input_path = "model.onnx";
  report.output_path = "model.int8.onnx";
  report.options.precision = Precision::kInt8;
  report.opset_before = 13;
  report.opset_after = 13;
  report.tensors = {tensor("a", 35.0, 8192, 2052), tensor(kHostileName, 12.5, 8192, 2052),
                    tensor("b", std::numeric_limits<double>::infinity(), 4096, 1028)};
  SkippedTensor skipped;
  skipped.name = "small";
  skipped.scope = "main";
  skipped.dtype = "float32";
  skipped.bytes = 64;
  skipped.reason = "16 elements, fewer than --min-elements 1024";
  report.skipped = {skipped};
  report.notes = {std::string("1 tensors have SQNR below 20 dB: ") + kHostileName};
  report.model_bytes_before = 30000;
  report.model_bytes_after = 9000;
  report.wall_time_seconds = 0.25;
  return report;
}

TEST(EscapeHtml, MarkupCharactersBecomeReferences) {
  EXPECT_EQ(report::escape_html(kHostileName), kHostileEscaped);
}

TEST(EscapeHtml, ControlAndInvalidBytesWrittenAsHex) {
  EXPECT_EQ(report::escape_html("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(report::escape_html(std::string("x\0y", 3)), "x\\x00y");
  EXPECT_EQ(report::escape_html("bad\xff\xc3"), "bad\\xff\\xc3");
}

TEST(EscapeHtml, ValidUtf8Kept) { EXPECT_EQ(report::escape_html("h\xc3\xa9 \xe2\x86\x92"), "h\xc3\xa9 \xe2\x86\x92"); }

TEST(HtmlReportPath, ExtensionInAnyCase) {
  EXPECT_TRUE(is_html_report_path("report.html"));
  EXPECT_TRUE(is_html_report_path("out/Report.HTML"));
  EXPECT_TRUE(is_html_report_path("r.Html"));
  EXPECT_FALSE(is_html_report_path("report.json"));
  EXPECT_FALSE(is_html_report_path("report.htm"));
  EXPECT_FALSE(is_html_report_path("html"));
  EXPECT_FALSE(is_html_report_path("report.html.json"));
}

TEST(HtmlReportPath, FormatFollowsExtension) {
  const Report report = sample_report();
  EXPECT_EQ(format_report_for_path(report, "r.json"), report_to_json(report));
  EXPECT_EQ(format_report_for_path(report, "r.HTML"), report_to_html(report));
}

TEST(ReportHtml, OneBarPerTensorInEachChart) {
  const std::string page = report_to_html(sample_report());
  const std::string errors = section_text(page, "error-chart");
  const std::string sizes = section_text(page, "size-chart");
  EXPECT_EQ(count(errors, "data-index="), 3u);
  EXPECT_EQ(count(sizes, "data-index="), 3u);
  EXPECT_EQ(count(sizes, "class=\"bar-background\""), 3u);
  EXPECT_EQ(count(errors, "class=\"bar low\""), 1u);
  EXPECT_EQ(count(errors, "class=\"bar exact\""), 1u);
  EXPECT_EQ(count(errors, "class=\"bar ok\""), 1u);
}

TEST(ReportHtml, HostileNameEscapedEverywhere) {
  const std::string page = report_to_html(sample_report());
  EXPECT_EQ(page.find(kHostileName), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  // The table, the weakest list, the chart tooltip and the note.
  EXPECT_GE(count(page, kHostileEscaped), 4u);
}

TEST(ReportHtml, LoadsNothing) {
  const std::string page = report_to_html(sample_report());
  for (const char* pattern : {"http:", "https:", "//", "src=", "url(", "@import", "<link", "<img", "<script"}) {
    SCOPED_TRACE(pattern);
    EXPECT_EQ(page.find(pattern), std::string::npos);
  }
  EXPECT_NE(page.find("Content-Security-Policy"), std::string::npos);
}

TEST(ReportHtml, SummaryValuesMatchJson) {
  const Report report = sample_report();
  const std::string page = report_to_html(report);
  const nlohmann::json summary = report::report_document(report).at("summary");
  for (const char* key : {"compression_ratio", "bits_per_weight", "min_sqnr_db", "mean_sqnr_db", "model_bytes_before",
                          "model_bytes_after", "quantized_tensors", "skipped_tensors", "wall_time_seconds"}) {
    SCOPED_TRACE(key);
    const std::string attribute = std::string("data-key=\"") + key + "\" data-value=\"" + summary.at(key).dump() + "\"";
    EXPECT_NE(page.find(attribute), std::string::npos);
  }
}

TEST(ReportHtml, SkippedReasonsListed) {
  const std::string skipped = section_text(report_to_html(sample_report()), "skipped");
  EXPECT_NE(skipped.find("16 elements, fewer than --min-elements 1024"), std::string::npos);
  EXPECT_NE(skipped.find(">small<"), std::string::npos);
}

TEST(ReportHtml, EmptyReportHasNoCharts) {
  Report report;
  report.options.precision = Precision::kInt4;
  const std::string page = report_to_html(report);
  EXPECT_EQ(page.find("<svg"), std::string::npos);
  EXPECT_NE(section_text(page, "error-chart").find("No tensor was quantized."), std::string::npos);
  EXPECT_NE(section_text(page, "summary").find("n/a"), std::string::npos);
}

TEST(ReportHtml, ExactRunHasNoErrorChart) {
  Report report = sample_report();
  report.options.precision = Precision::kFp32;
  for (auto& entry : report.tensors) entry.sqnr_db = std::numeric_limits<double>::infinity();
  const std::string page = report_to_html(report);
  const std::string errors = section_text(page, "error-chart");
  EXPECT_EQ(errors.find("<svg"), std::string::npos);
  EXPECT_NE(errors.find("reconstructed exactly"), std::string::npos);
  EXPECT_EQ(count(section_text(page, "size-chart"), "data-index="), 3u);
  EXPECT_NE(section_text(page, "summary").find(">exact<"), std::string::npos);
}

// An evaluation of two outputs: logits that fail --min-top1, and an output that compared nothing.
EvaluationReport evaluation_of_two_outputs() {
  EvaluationReport evaluation;
  evaluation.input_source = "generated";
  evaluation.samples = 2;
  evaluation.seed = 3;
  OutputEvaluation logits;
  logits.name = "logits";
  logits.shape = {1, 4, 8};
  logits.elements = 64;
  logits.compared_elements = 64;
  logits.max_abs_error = 0.125;
  logits.mean_abs_error = 0.01;
  logits.relative_l2_error = 0.02;
  logits.cosine_similarity = 0.9995;
  logits.logits = true;
  logits.rows = 8;
  logits.top1_agreement = 0.875;
  logits.kl_divergence = 0.0012;
  OutputEvaluation empty;
  empty.name = kHostileName;
  empty.shape = {1, 0};
  evaluation.outputs = {logits, empty};
  evaluation.gates.min_top1 = 0.9;
  evaluation.violations = check_gates(evaluation.outputs, evaluation.gates);
  return evaluation;
}

TEST(ReportHtml, EvaluationSectionListsOutputs) {
  Report report = sample_report();
  EXPECT_EQ(section_text(report_to_html(report), "evaluation"), "");
  report.evaluation = evaluation_of_two_outputs();
  const std::string section = section_text(report_to_html(report), "evaluation");
  EXPECT_NE(section.find("2 generated sample(s), seed 3"), std::string::npos) << section;
  EXPECT_EQ(count(section, "<tr"), 3u) << section;  // the header and two outputs
  EXPECT_NE(section.find(R"(<tr class="low"><td class="name">logits</td>)"), std::string::npos) << section;
  for (const char* figure : {">0.125<", ">0.999500<", ">0.8750<", ">0.0012<"}) {
    EXPECT_NE(section.find(figure), std::string::npos) << figure;
  }
  // The empty output shows "-" for every figure; it is a plain output, so --min-top1 skips it.
  const size_t empty_row = section.find(kHostileEscaped);
  ASSERT_NE(empty_row, std::string::npos) << section;
  EXPECT_EQ(count(section.substr(empty_row, section.find("</tr>", empty_row) - empty_row), ">-<"), 6u) << section;
  EXPECT_NE(section.find("Failed accuracy gates (1)"), std::string::npos) << section;
  EXPECT_NE(section.find("top-1 agreement 0.875 is below the limit 0.9"), std::string::npos) << section;
}

TEST(ReportHtml, CalibrationSectionSummarizesActivations) {
  Report report = sample_report();
  EXPECT_EQ(section_text(report_to_html(report), "calibration"), "");
  report.options.calibration_data = "calibration/";
  report.options.calibration_method = CalibrationMethod::kPercentile;
  report.calibration_samples = 4;
  ActivationReport quantized;
  quantized.name = "x";
  quantized.values = 256;
  quantized.non_finite_values = 3;
  quantized.observed_min = -2.5;
  quantized.observed_max = 4.0;
  quantized.range_min = -2.0;
  quantized.range_max = 3.5;
  quantized.scale = 0.0215f;
  ActivationReport measured;
  measured.name = "h";
  measured.values = 128;
  report.activations = {quantized, measured};
  const std::string section = section_text(report_to_html(report), "calibration");
  EXPECT_NE(section.find("4 sample(s) from calibration/, method percentile: 2 activation(s) measured, 1 quantized, "
                         "3 NaN or infinite value(s)"),
            std::string::npos)
      << section;
  EXPECT_EQ(count(section, "<tr>"), 3u) << section;
  EXPECT_NE(section.find(">-2 … 3.5<"), std::string::npos) << section;
  EXPECT_NE(section.find(">0.0215<"), std::string::npos) << section;
}

TEST(SvgChart, BarHeightsFollowValues) {
  report::BarChart chart;
  chart.bars.resize(2);
  chart.bars[0].value = 10.0;
  chart.bars[1].value = 20.0;
  const std::string svg = report::render_bar_chart(chart);
  const auto height_of = [&](const std::string& index) {
    const size_t bar = svg.find("data-index=\"" + index + "\"");
    const size_t start = svg.rfind("height=\"", bar) + 8;
    return std::stod(svg.substr(start, svg.find('"', start) - start));
  };
  EXPECT_NEAR(height_of("1"), 2.0 * height_of("0"), 0.05);
}

}  // namespace
}  // namespace onnxquant
