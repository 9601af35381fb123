#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "report/evaluation_json.hpp"
#include "onnxquant/report.hpp"
#include "onnxquant/version.hpp"
#include "report/report_json.hpp"

namespace onnxquant {
namespace {

using nlohmann::json;

json tensor_json(const TensorReport& entry) {
  return {
      {"name", entry.name},
      {"scope", entry.scope},
      {"nodes", entry.nodes},
      {"op_types", entry.op_types},
      {"shape", entry.shape},
      {"dtype_before", entry.dtype_before},
      {"dtype_after", entry.dtype_after},
      {"elements", entry.elements},
      {"bytes_before", entry.bytes_before},
      {"bytes_after", entry.bytes_after},
      {"scheme", entry.scheme},
      {"precision_source", entry.precision_source},
      {"axis", entry.axis >= 0 ? json(entry.axis) : json(nullptr)},
      {"block_size", entry.block_size > 0 ? json(entry.block_size) : json(nullptr)},
      {"symmetric", entry.symmetric},
      {"scale_min", entry.scale_min},
      {"scale_max", entry.scale_max},
      {"mse", entry.mse},
      {"max_abs_error", entry.max_abs_error},
      {"sqnr_db", finite_or_null(entry.sqnr_db)},
      {"sqnr_minmax_db", finite_or_null(entry.sqnr_minmax_db)},
      {"cosine_similarity", entry.cosine_similarity},
      {"max_relative_error", entry.max_relative_error},
      {"saturated_values", entry.saturated_values},
  };
}

json skipped_json(const SkippedTensor& entry) {
  return {
      {"name", entry.name}, {"scope", entry.scope},  {"nodes", entry.nodes},   {"op_types", entry.op_types},
      {"shape", entry.shape}, {"dtype", entry.dtype}, {"bytes", entry.bytes}, {"reason", entry.reason},
      {"precision_source", entry.precision_source},
  };
}

json options_json(const QuantizeOptions& options) {
  json overrides = json::array();
  for (const auto& entry : options.overrides) overrides.push_back(entry.pattern + "=" + entry.precision);
  return {
      {"overrides", overrides},
      {"precision", to_string(options.precision)},
      {"per_channel", options.per_channel},
      {"asymmetric", options.asymmetric},
      {"block_size", options.precision == Precision::kInt4 || options.format == WeightFormat::kMatMulNBits
                         ? json(options.block_size)
                         : json(nullptr)},
      {"format", options.format == WeightFormat::kDefault ? json(nullptr) : json(to_string(options.format))},
      {"min_elements", options.min_elements},
      {"exclude", options.exclude},
      {"accuracy_level", options.accuracy_level},
      {"scale_search", searches_scales(options) ? "mse" : "none"},
      {"convert_io", options.convert_io},
      {"quantize_embeddings", options.quantize_embeddings},
      {"mixed", options.mixed == MixedPolicy::kSensitive ? "sensitive" : "none"},
      {"sensitive_fraction", options.sensitive_fraction},
      {"keep_fp32_ops", options.keep_fp32_ops},
      {"keep_fp32_nodes", options.keep_fp32_nodes},
  };
}

json summary_json(const ReportSummary& summary, const Report& report) {
  return {
      {"quantized_tensors", summary.quantized_tensors},
      {"skipped_tensors", summary.skipped_tensors},
      {"quantized_elements", summary.quantized_elements},
      {"weight_bytes_before", summary.weight_bytes_before},
      {"weight_bytes_after", summary.weight_bytes_after},
      {"model_bytes_before", report.model_bytes_before},
      {"model_bytes_after", report.model_bytes_after},
      {"compression_ratio", finite_or_null(summary.compression_ratio)},
      {"bits_per_weight", finite_or_null(summary.bits_per_weight)},
      {"min_sqnr_db", finite_or_null(summary.min_sqnr_db)},
      {"mean_sqnr_db", finite_or_null(summary.mean_sqnr_db)},
      {"saturated_values", summary.saturated_values},
      {"mean_sqnr_gain_db", finite_or_null(summary.mean_sqnr_gain_db)},
      {"max_relative_error", summary.max_relative_error},
      {"wall_time_seconds", report.wall_time_seconds},
  };
}

}  // namespace

ReportSummary summarize(const Report& report) {
  ReportSummary summary;
  summary.quantized_tensors = report.tensors.size();
  summary.skipped_tensors = report.skipped.size();
  double sqnr_sum = 0.0;
  uint64_t finite_sqnr = 0;
  summary.min_sqnr_db = std::numeric_limits<double>::infinity();
  for (const auto& entry : report.tensors) {
    summary.quantized_elements += entry.elements;
    summary.weight_bytes_before += entry.bytes_before;
    summary.weight_bytes_after += entry.bytes_after;
    summary.min_sqnr_db = std::min(summary.min_sqnr_db, entry.sqnr_db);
    summary.saturated_values += entry.saturated_values;
    summary.max_relative_error = std::max(summary.max_relative_error, entry.max_relative_error);
    if (std::isfinite(entry.sqnr_db)) {
      sqnr_sum += entry.sqnr_db;
      ++finite_sqnr;
    }
  }
  double gain_sum = 0.0;
  uint64_t gains = 0;
  for (const auto& entry : report.tensors) {
    if (std::isfinite(entry.sqnr_db) && std::isfinite(entry.sqnr_minmax_db)) {
      gain_sum += entry.sqnr_db - entry.sqnr_minmax_db;
      ++gains;
    }
  }
  if (gains > 0) summary.mean_sqnr_gain_db = gain_sum / static_cast<double>(gains);
  summary.mean_sqnr_db = finite_sqnr > 0 ? sqnr_sum / static_cast<double>(finite_sqnr)
                                         : std::numeric_limits<double>::quiet_NaN();
  summary.compression_ratio = report.model_bytes_after > 0 ? static_cast<double>(report.model_bytes_before) /
                                                                 static_cast<double>(report.model_bytes_after)
                                                           : std::numeric_limits<double>::quiet_NaN();
  summary.bits_per_weight = summary.quantized_elements > 0 ? 8.0 * static_cast<double>(summary.weight_bytes_after) /
                                                                 static_cast<double>(summary.quantized_elements)
                                                           : std::numeric_limits<double>::quiet_NaN();
  return summary;
}

namespace {

json calibration_json(const Report& report) {
  json activations = json::array();
  for (const auto& entry : report.activations) {
    activations.push_back({{"name", entry.name},
                           {"nodes", entry.nodes},
                           {"values", entry.values},
                           {"non_finite_values", entry.non_finite_values},
                           {"observed_min", entry.observed_min},
                           {"observed_max", entry.observed_max},
                           {"range_min", entry.range_min},
                           {"range_max", entry.range_max},
                           {"scale", entry.scale},
                           {"zero_point", entry.zero_point}});
  }
  return {{"data", report.options.calibration_data},
          {"method", to_string(report.options.calibration_method)},
          {"percentile", report.options.calibration_percentile},
          {"samples", report.calibration_samples},
          {"activations", activations}};
}

}  // namespace

namespace report {

nlohmann::json report_document(const Report& report) {
  json tensors = json::array();
  for (const auto& entry : report.tensors) tensors.push_back(tensor_json(entry));
  json skipped = json::array();
  for (const auto& entry : report.skipped) skipped.push_back(skipped_json(entry));

  json document = {
      {"schema", "onnxquant.report"},
      {"schema_version", kReportSchemaVersion},
      {"tool", {{"name", "onnxquant"}, {"version", kVersion}}},
      {"input", report.input_path},
      {"output", report.output_path},
      {"options", options_json(report.options)},
      {"opset_before", report.opset_before},
      {"opset_after", report.opset_after},
      {"summary", summary_json(summarize(report), report)},
      {"tensors", tensors},
      {"skipped", skipped},
      {"notes", report.notes},
  };
  if (report.evaluation) document["evaluation"] = evaluation_json(*report.evaluation);
  if (!report.options.calibration_data.empty()) document["calibration"] = calibration_json(report);
  return document;
}

}  // namespace report

std::string report_to_json(const Report& report) {
  // Names from the model need not be valid UTF-8, so invalid bytes become U+FFFD.
  return report::report_document(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void write_report_json(const Report& report, const std::filesystem::path& path) {
  io::AtomicFile file(path);
  file.write(report_to_json(report));
  file.commit();
}

}  // namespace onnxquant
