// The accuracy report: what was quantized, how, and what it cost. docs/report-schema.md describes
// its JSON form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "onnxquant/evaluation.hpp"
#include "onnxquant/options.hpp"

namespace onnxquant {

inline constexpr int kReportSchemaVersion = 1;

// Tensors below this SQNR lose enough precision that model outputs often change visibly. INT4
// weights typically reach about 20 dB, so their threshold is lower.
inline constexpr double kLowSqnrDbInt8 = 20.0;
inline constexpr double kLowSqnrDbInt4 = 14.0;

struct TensorReport {
  std::string name;
  std::string scope;  // "main" or the subgraph path
  std::vector<std::string> nodes;
  std::vector<std::string> op_types;
  std::vector<int64_t> shape;
  std::string dtype_before;
  std::string dtype_after;
  uint64_t elements = 0;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;  // quantized data plus scales and zero points
  std::string scheme;        // "per-tensor", "per-channel" or "block"
  // Why this tensor got another precision than the run's: "--override PATTERN" or "mixed policy".
  std::string precision_source;
  int64_t axis = -1;         // quantization axis for per-channel, -1 otherwise
  int64_t block_size = 0;    // for "block"
  bool symmetric = true;
  double scale_min = 0.0;
  double scale_max = 0.0;
  double mse = 0.0;
  double max_abs_error = 0.0;
  double sqnr_db = 0.0;
  // The SQNR that min/max scales reach on the same tensor, when a scale search ran.
  double sqnr_minmax_db = std::numeric_limits<double>::quiet_NaN();
  double cosine_similarity = 0.0;
  // Float conversions: the largest |x - x'| / |x| over nonzero x, and the count of finite values
  // beyond the target type's range that were saturated to its largest value.
  double max_relative_error = 0.0;
  uint64_t saturated_values = 0;
};

struct SkippedTensor {
  std::string name;
  std::string scope;
  std::vector<std::string> nodes;
  std::vector<std::string> op_types;
  std::vector<int64_t> shape;
  std::string dtype;
  uint64_t bytes = 0;
  std::string reason;
  std::string precision_source;
};

// One activation measured by --calibration-data, and its QuantizeLinear parameters under -p int8.
struct ActivationReport {
  std::string name;
  std::vector<std::string> nodes;  // the nodes that read it quantized (-p int8)
  uint64_t values = 0;             // finite values seen over all samples
  uint64_t non_finite_values = 0;  // NaN and infinities, left out of the statistics
  double observed_min = 0.0;
  double observed_max = 0.0;
  double range_min = 0.0;  // the range the calibration method chose
  double range_max = 0.0;
  float scale = 0.0f;      // 0 when the activation is not quantized (-p int4)
  int32_t zero_point = 0;
};

struct Report {
  std::string input_path;
  std::string output_path;
  QuantizeOptions options;
  int64_t opset_before = 0;
  int64_t opset_after = 0;
  std::vector<TensorReport> tensors;
  std::vector<SkippedTensor> skipped;
  // Model-level decisions the user should know about, such as an opset conversion or a fallback.
  std::vector<std::string> notes;
  uint64_t model_bytes_before = 0;  // .onnx file plus its external data
  uint64_t model_bytes_after = 0;
  double wall_time_seconds = 0.0;
  // Set when quantize was asked to evaluate: the input model against the quantized model.
  std::optional<EvaluationReport> evaluation;
  // --calibration-data: the samples read and the activations measured.
  uint64_t calibration_samples = 0;
  std::vector<ActivationReport> activations;
};

struct ReportSummary {
  uint64_t quantized_tensors = 0;
  uint64_t skipped_tensors = 0;
  uint64_t quantized_elements = 0;
  uint64_t weight_bytes_before = 0;  // of the quantized tensors
  uint64_t weight_bytes_after = 0;
  double compression_ratio = 0.0;    // model bytes before / after
  double bits_per_weight = 0.0;      // over the quantized tensors, scales and zero points included
  double min_sqnr_db = 0.0;
  double mean_sqnr_db = 0.0;
  uint64_t saturated_values = 0;  // float conversions: values saturated to the target's largest value
  // Mean over tensors of sqnr_db - sqnr_minmax_db, when a scale search ran.
  double mean_sqnr_gain_db = std::numeric_limits<double>::quiet_NaN();
  double max_relative_error = 0.0;
};

ReportSummary summarize(const Report& report);

// The report as JSON text, schema version kReportSchemaVersion.
std::string report_to_json(const Report& report);
// The report as a table for a terminal.
std::string format_report_table(const Report& report);
void write_report_json(const Report& report, const std::filesystem::path& path);

// The report as one self-contained HTML page (docs/html-report.md): inline CSS and SVG charts, no
// scripts, and nothing that a browser would fetch.
std::string report_to_html(const Report& report);
// Whether `path` names an HTML report: its extension is ".html" in any letter case.
bool is_html_report_path(const std::filesystem::path& path);
// The report in the format that `path` selects: HTML for ".html", JSON otherwise.
std::string format_report_for_path(const Report& report, const std::filesystem::path& path);

}  // namespace onnxquant
