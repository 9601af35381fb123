#include <cmath>
#include <fmt/format.h>

#include "io/tensor_data.hpp"
#include "onnxquant/report.hpp"
#include "report/report_format.hpp"

namespace onnxquant {
namespace {

using report::format_bytes;
using report::format_db;
using report::scheme_label_without_source;

constexpr size_t kNameWidth = 44;

// Keeps the end of a long name, which is the part that differs between layers.
std::string fit(const std::string& text, size_t width) {
  if (text.size() <= width) return text;
  return "..." + text.substr(text.size() - (width - 3));
}

// A '*' marks a precision chosen by --override or the mixed policy, listed under the table.
std::string scheme_label(const TensorReport& entry) {
  return scheme_label_without_source(entry) + (entry.precision_source.empty() ? "" : "*");
}

void append_tensors(std::string& out, const Report& report) {
  out += fmt::format("{:<{}} {:<13} {:<20} {:>10} {:>10} {:<18} {:>7} {:>9} {:>10}\n", "tensor", kNameWidth, "op",
                     "shape", "before", "after", "scheme", "SQNR dB", "cosine", "max err");
  for (const auto& entry : report.tensors) {
    const std::string op = entry.op_types.empty() ? "" : entry.op_types.front();
    // A shape wider than its column pushes the row right rather than losing a dimension.
    out += fmt::format("{:<{}} {:<13} {:<20} {:>10} {:>10} {:<18} {:>7} {:>9.6f} {:>10.3g}\n", fit(entry.name, kNameWidth),
                       kNameWidth, fit(op, 13), io::format_shape(entry.shape), format_bytes(entry.bytes_before),
                       format_bytes(entry.bytes_after), scheme_label(entry), format_db(entry.sqnr_db),
                       entry.cosine_similarity, entry.max_abs_error);
  }
}

void append_summary(std::string& out, const Report& report) {
  const ReportSummary summary = summarize(report);
  out += "\nSummary\n";
  out += fmt::format("  quantized tensors  {} ({} kept float)\n", summary.quantized_tensors, summary.skipped_tensors);
  out += fmt::format("  weights            {} -> {}\n", format_bytes(summary.weight_bytes_before),
                     format_bytes(summary.weight_bytes_after));
  out += fmt::format("  model              {} -> {} (compression {:.2f}x)\n", format_bytes(report.model_bytes_before),
                     format_bytes(report.model_bytes_after), summary.compression_ratio);
  if (summary.quantized_tensors > 0) {
    out += fmt::format("  bits per weight    {:.2f}\n", summary.bits_per_weight);
    out += fmt::format("  SQNR               min {} dB, mean {} dB\n", format_db(summary.min_sqnr_db),
                       format_db(summary.mean_sqnr_db));
    if (std::isfinite(summary.mean_sqnr_gain_db)) {
      out += fmt::format("  scale search       {:+.2f} dB mean SQNR over min/max scales\n", summary.mean_sqnr_gain_db);
    }
  }
  if (report.options.precision == Precision::kFp16 || report.options.precision == Precision::kBf16) {
    out += fmt::format("  max relative error {:.3g}\n", summary.max_relative_error);
    out += fmt::format("  saturated values   {}\n", summary.saturated_values);
  }
  out += fmt::format("  ai.onnx opset      {} -> {}\n", report.opset_before, report.opset_after);
  out += fmt::format("  wall time          {:.2f} s\n", report.wall_time_seconds);
}

}  // namespace

std::string format_report_table(const Report& report) {
  std::string out = fmt::format("{} -> {} ({}{}{})\n\n", report.input_path, report.output_path,
                                to_string(report.options.precision), report.options.per_channel ? ", per-channel" : "",
                                report.options.asymmetric ? ", asymmetric" : ", symmetric");
  append_tensors(out, report);

  bool any_source = false;
  for (const auto& entry : report.tensors) {
    if (entry.precision_source.empty()) continue;
    if (!any_source) out += "\n* precision chosen by\n";
    any_source = true;
    out += fmt::format("  {:<{}} {}\n", fit(entry.name, kNameWidth), kNameWidth, entry.precision_source);
  }
  if (!report.skipped.empty()) {
    out += fmt::format("\nKept float ({})\n", report.skipped.size());
    for (const auto& entry : report.skipped) {
      out += fmt::format("  {:<{}} {}\n", fit(entry.name, kNameWidth), kNameWidth, entry.reason);
    }
  }
  if (!report.notes.empty()) {
    out += "\nNotes\n";
    for (const auto& note : report.notes) out += fmt::format("  {}\n", note);
  }
  append_summary(out, report);
  return out;
}

}  // namespace onnxquant
