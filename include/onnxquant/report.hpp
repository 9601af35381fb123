// The accuracy report: what was quantized, how, and what it cost. docs/report-schema.md describes
// its JSON form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "onnxquant/options.hpp"

namespace onnxquant {

inline constexpr int kReportSchemaVersion = 1;

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

}  // namespace onnxquant
