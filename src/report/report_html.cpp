// The HTML report: one self-contained page with the summary, per-tensor charts and tables.
#include "report/report_html.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <fmt/format.h>

#include "io/tensor_data.hpp"
#include "onnxquant/version.hpp"
#include "report/html_escape.hpp"
#include "report/report_format.hpp"
#include "report/report_html_style.hpp"
#include "report/report_json.hpp"
#include "report/svg_chart.hpp"

namespace onnxquant {
namespace report {
namespace {

using nlohmann::json;

// The error chart ranks this many of the weakest tensors and lists them under it.
constexpr size_t kWeakestCount = 5;

// An SQNR for a summary card. A run without a finite SQNR reconstructed every tensor exactly.
std::string sqnr_text(double value, bool any_tensor) {
  if (!any_tensor) return "n/a";
  if (!std::isfinite(value)) return "exact";
  return fmt::format("{:.1f} dB", value);
}

// A summary value as shown, with the JSON report's value in data-value for tools and tests.
std::string figure(const json& summary, const char* key, const std::string& text) {
  return fmt::format(R"(<span data-key="{}" data-value="{}">{}</span>)", key, escape_html(summary.at(key).dump()),
                     escape_html(text));
}

enum class CardStyle { kNormal, kWide, kWarning };

std::string card(const std::string& label, const std::string& figure_html, const std::string& detail,
                 CardStyle style = CardStyle::kNormal) {
  const char* css_class = "";
  if (style == CardStyle::kWide) css_class = " wide";
  if (style == CardStyle::kWarning) css_class = " warning";
  return fmt::format(R"(<div class="card{}"><div class="label">{}</div><div class="figure">{}</div>)"
                     R"(<div class="detail">{}</div></div>)",
                     css_class, label, figure_html, detail);
}

std::string summary_cards(const Report& report, const json& summary) {
  const ReportSummary values = summarize(report);
  const bool any_tensor = !report.tensors.empty();
  const double threshold = low_sqnr_threshold_db(report);
  const auto ratio = [](double value) { return std::isfinite(value) ? fmt::format("{:.2f}×", value) : "n/a"; };
  const auto bits = [](double value) { return std::isfinite(value) ? fmt::format("{:.2f}", value) : "n/a"; };

  std::string cards = R"(<div class="cards">)";
  cards += card("Model size",
                figure(summary, "model_bytes_before", format_bytes(report.model_bytes_before)) + " → " +
                    figure(summary, "model_bytes_after", format_bytes(report.model_bytes_after)),
                "model file plus external data", CardStyle::kWide);
  cards += card("Compression", figure(summary, "compression_ratio", ratio(values.compression_ratio)),
                "model bytes before / after");
  cards += card("Bits per weight", figure(summary, "bits_per_weight", bits(values.bits_per_weight)),
                "quantized weights, scales included");
  cards += card("Min SQNR", figure(summary, "min_sqnr_db", sqnr_text(values.min_sqnr_db, any_tensor)),
                std::isnan(threshold) ? "weakest tensor" : fmt::format("warning below {:.0f} dB", threshold),
                values.min_sqnr_db < threshold ? CardStyle::kWarning : CardStyle::kNormal);
  cards += card("Mean SQNR", figure(summary, "mean_sqnr_db", sqnr_text(values.mean_sqnr_db, any_tensor)),
                "exact tensors left out");
  cards += card("Tensors",
                figure(summary, "quantized_tensors", std::to_string(values.quantized_tensors)) + " quantized",
                figure(summary, "skipped_tensors", std::to_string(values.skipped_tensors)) + " kept float");
  cards += card("Weights",
                figure(summary, "weight_bytes_before", format_bytes(values.weight_bytes_before)) + " → " +
                    figure(summary, "weight_bytes_after", format_bytes(values.weight_bytes_after)),
                "of the quantized tensors", CardStyle::kWide);
  if (std::isfinite(values.mean_sqnr_gain_db)) {
    cards += card("Scale search gain",
                  figure(summary, "mean_sqnr_gain_db", fmt::format("{:+.2f} dB", values.mean_sqnr_gain_db)),
                  "mean SQNR over min/max scales");
  }
  if (report.options.precision == Precision::kFp16 || report.options.precision == Precision::kBf16) {
    cards += card("Max relative error",
                  figure(summary, "max_relative_error", fmt::format("{:.3g}", values.max_relative_error)),
                  "of any nonzero finite weight value");
    cards += card("Saturated values", figure(summary, "saturated_values", std::to_string(values.saturated_values)),
                  "beyond the target type's range");
  }
  cards += card("Wall time", figure(summary, "wall_time_seconds", fmt::format("{:.2f} s", report.wall_time_seconds)),
                "from loading to saving");
  cards += "</div>\n";
  return cards;
}

std::string option_text(const json& value) {
  if (value.is_null()) return "—";
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_string()) return escape_html(value.get<std::string>());
  if (!value.is_array()) return escape_html(value.dump());
  if (value.empty()) return "none";
  std::vector<std::string> items;
  for (const auto& item : value) items.push_back(item.is_string() ? escape_html(item.get<std::string>()) : item.dump());
  return fmt::format("{}", fmt::join(items, ", "));
}

// Every option of the JSON report, precision and format first.
std::string options_list(const json& options) {
  std::vector<std::string> keys = {"precision", "format"};
  for (const auto& [key, value] : options.items()) {
    if (key != "precision" && key != "format") keys.push_back(key);
  }
  std::string list = R"(<dl class="options">)";
  for (const auto& key : keys) {
    if (!options.contains(key)) continue;
    list += fmt::format("<div><dt>{}</dt><dd>{}</dd></div>", escape_html(key), option_text(options.at(key)));
  }
  list += "</dl>\n";
  return list;
}

std::string notes_list(const Report& report) {
  if (report.notes.empty()) return {};
  std::string list = R"(<h3>Notes</h3><ul class="notes">)";
  for (const auto& note : report.notes) list += fmt::format("<li>{}</li>", escape_html(note));
  list += "</ul>\n";
  return list;
}

std::string joined_unique(const std::vector<std::string>& values) {
  std::vector<std::string> unique;
  for (const auto& value : values) {
    if (std::find(unique.begin(), unique.end(), value) == unique.end()) unique.push_back(value);
  }
  return fmt::format("{}", fmt::join(unique, ", "));
}

std::string sqnr_class(const TensorReport& entry, double threshold) {
  if (std::isinf(entry.sqnr_db)) return "exact";
  return entry.sqnr_db < threshold ? "low" : "ok";
}

// Indices of the tensors with the lowest finite SQNR, lowest first.
std::vector<size_t> weakest_tensors(const Report& report) {
  std::vector<size_t> indices;
  for (size_t i = 0; i < report.tensors.size(); ++i) {
    if (std::isfinite(report.tensors[i].sqnr_db)) indices.push_back(i);
  }
  std::stable_sort(indices.begin(), indices.end(),
                   [&](size_t a, size_t b) { return report.tensors[a].sqnr_db < report.tensors[b].sqnr_db; });
  indices.resize(std::min(indices.size(), kWeakestCount));
  return indices;
}

std::string weakest_list(const Report& report, const std::vector<size_t>& weakest, double threshold) {
  if (weakest.empty()) return {};
  std::string list = R"(<h3>Weakest tensors</h3><ol class="weakest">)";
  for (size_t index : weakest) {
    const TensorReport& entry = report.tensors[index];
    list += fmt::format(R"(<li><a href="#tensor-{}">#{} {}</a>: <span class="value {}">{:.1f} dB</span> ({})</li>)",
                        index + 1, index + 1, escape_html(entry.name), sqnr_class(entry, threshold), entry.sqnr_db,
                        escape_html(joined_unique(entry.op_types)));
  }
  list += "</ol>\n";
  return list;
}

std::string legend(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string html = R"(<ul class="legend">)";
  for (const auto& [css_class, text] : items) {
    html += fmt::format(R"(<li><span class="swatch {}"></span>{}</li>)", css_class, text);
  }
  html += "</ul>\n";
  return html;
}

struct ByteUnit {
  double bytes;
  const char* name;
};

ByteUnit byte_unit(uint64_t largest) {
  if (largest >= (uint64_t{1} << 30)) return {static_cast<double>(uint64_t{1} << 30), "GiB"};
  if (largest >= (uint64_t{1} << 20)) return {static_cast<double>(uint64_t{1} << 20), "MiB"};
  if (largest >= (uint64_t{1} << 10)) return {1024.0, "KiB"};
  return {1.0, "bytes"};
}

std::string scope_line(const std::string& scope) {
  return scope == "main" || scope.empty() ? "" : fmt::format(R"(<span class="scope">{}</span>)", escape_html(scope));
}

std::string source_line(const std::string& precision_source) {
  return precision_source.empty() ? ""
                                  : fmt::format(R"(<span class="scope">{}</span>)", escape_html(precision_source));
}

std::string tensor_row(const TensorReport& entry, size_t index, double threshold) {
  const bool low = entry.sqnr_db < threshold;
  return fmt::format(
      R"(<tr id="tensor-{0}"{1}><td class="num">{0}</td><td class="name">{2}{3}</td><td title="{4}">{5}</td>)"
      R"(<td class="num">{6}</td><td class="nowrap">{7} → {8}</td><td class="nowrap">{9}{10}</td><td class="num">{11}</td>)"
      R"(<td class="num">{12}</td>)"
      R"(<td class="num sqnr">{13}</td><td class="num">{14:.6f}</td><td class="num">{15:.3g}</td></tr>)"
      "\n",
      index + 1, low ? R"( class="low")" : "", escape_html(entry.name), scope_line(entry.scope),
      escape_html(fmt::format("nodes: {}", fmt::join(entry.nodes, ", "))), escape_html(joined_unique(entry.op_types)),
      io::format_shape(entry.shape), escape_html(entry.dtype_before), escape_html(entry.dtype_after),
      escape_html(scheme_label_without_source(entry)), source_line(entry.precision_source),
      format_bytes(entry.bytes_before), format_bytes(entry.bytes_after), format_db(entry.sqnr_db),
      entry.cosine_similarity, entry.max_abs_error);
}

std::string skipped_row(const SkippedTensor& entry, size_t index) {
  return fmt::format(
      R"(<tr><td class="num">{}</td><td class="name">{}{}</td><td title="{}">{}</td><td class="num">{}</td>)"
      R"(<td>{}</td><td class="num">{}</td><td class="reason">{}{}</td></tr>)"
      "\n",
      index + 1, escape_html(entry.name), scope_line(entry.scope),
      escape_html(fmt::format("nodes: {}", fmt::join(entry.nodes, ", "))), escape_html(joined_unique(entry.op_types)),
      io::format_shape(entry.shape), escape_html(entry.dtype), format_bytes(entry.bytes), escape_html(entry.reason),
      source_line(entry.precision_source));
}

std::string page_start(const Report& report) {
  const std::string format =
      report.options.format == WeightFormat::kDefault ? "" : fmt::format(", format {}", to_string(report.options.format));
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      // The page may load nothing: no scripts, images, fonts or stylesheets beyond its own <style>.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>onnxquant report: {0}</title>\n<style>{1}</style>\n</head>\n<body>\n<main>\n"
      "<header><h1>Quantization report</h1>\n"
      "<p class=\"paths\">{0}<span class=\"arrow\">→</span>{2}</p>\n"
      "<p class=\"meta\">precision {3}{4} · ai.onnx opset {5} → {6}</p></header>\n",
      escape_html(report.input_path), kReportStylesheet, escape_html(report.output_path),
      to_string(report.options.precision), format, report.opset_before, report.opset_after);
}

std::string page_end() {
  return fmt::format("<footer>onnxquant {} · report schema {}</footer>\n</main>\n</body>\n</html>\n", kVersion,
                     kReportSchemaVersion);
}

}  // namespace

double low_sqnr_threshold_db(const Report& report) {
  switch (report.options.precision) {
    case Precision::kInt8: return kLowSqnrDbInt8;
    case Precision::kInt4: return kLowSqnrDbInt4;
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

std::string summary_section(const Report& report, const nlohmann::json& document) {
  std::string section = "<section id=\"summary\">\n<h2>Summary</h2>\n";
  section += summary_cards(report, document.at("summary"));
  section += "<h3>Options</h3>\n" + options_list(document.at("options"));
  section += notes_list(report);
  section += "</section>\n";
  return section;
}

std::string error_chart_section(const Report& report) {
  std::string section = "<section id=\"error-chart\">\n<h2>Error per tensor</h2>\n";
  if (report.tensors.empty()) return section + "<p class=\"empty\">No tensor was quantized.</p>\n</section>\n";

  const bool any_error = std::any_of(report.tensors.begin(), report.tensors.end(),
                                     [](const TensorReport& entry) { return std::isfinite(entry.sqnr_db); });
  if (!any_error) {
    return section + "<p class=\"empty\">Every tensor was reconstructed exactly, so there is no error to chart.</p>\n"
                     "</section>\n";
  }

  const double threshold = low_sqnr_threshold_db(report);
  const std::vector<size_t> weakest = weakest_tensors(report);
  BarChart chart;
  chart.description = "SQNR in dB of each quantized tensor, in report order";
  chart.x_label = "quantized tensor (number in the table below)";
  chart.y_label = "SQNR (dB)";
  for (size_t i = 0; i < report.tensors.size(); ++i) {
    const TensorReport& entry = report.tensors[i];
    ChartBar bar;
    bar.value = entry.sqnr_db;
    bar.css_class = sqnr_class(entry, threshold);
    bar.tooltip = fmt::format("#{} {}: {} dB ({}, {})", i + 1, entry.name, format_db(entry.sqnr_db), entry.dtype_after,
                              scheme_label_without_source(entry));
    chart.bars.push_back(std::move(bar));
  }
  for (size_t rank = 0; rank < weakest.size(); ++rank) chart.bars[weakest[rank]].label = std::to_string(rank + 1);
  if (!std::isnan(threshold)) chart.lines.push_back({threshold, fmt::format("{:.0f} dB warning threshold", threshold)});

  section += "<p class=\"caption\">Signal-to-quantization-noise ratio of each quantized weight against its float "
             "original, in the order of the table below. Higher is better. The numbers above bars rank the weakest "
             "tensors.</p>\n";
  section += render_bar_chart(chart);
  std::vector<std::pair<std::string, std::string>> items = {{"ok", "SQNR"}};
  if (!std::isnan(threshold)) {
    items = {{"ok", fmt::format("{:.0f} dB or more", threshold)}, {"low", fmt::format("below {:.0f} dB", threshold)}};
  }
  const bool any_exact = std::any_of(report.tensors.begin(), report.tensors.end(),
                                     [](const TensorReport& entry) { return std::isinf(entry.sqnr_db); });
  if (any_exact) items.push_back({"exact", "exact (no error), drawn at full height"});
  section += legend(items);
  section += weakest_list(report, weakest, threshold);
  section += "</section>\n";
  return section;
}

std::string size_chart_section(const Report& report) {
  std::string section = "<section id=\"size-chart\">\n<h2>Size per tensor</h2>\n";
  if (report.tensors.empty()) return section + "<p class=\"empty\">No tensor was quantized.</p>\n</section>\n";

  uint64_t largest = 0;
  for (const auto& entry : report.tensors) largest = std::max({largest, entry.bytes_before, entry.bytes_after});
  const ByteUnit unit = byte_unit(largest);
  BarChart chart;
  chart.description = "Stored size of each quantized tensor before and after quantization";
  chart.x_label = "quantized tensor (number in the table below)";
  chart.y_label = fmt::format("size ({})", unit.name);
  chart.unit = unit.bytes;
  for (size_t i = 0; i < report.tensors.size(); ++i) {
    const TensorReport& entry = report.tensors[i];
    ChartBar bar;
    bar.value = static_cast<double>(entry.bytes_after);
    bar.background = static_cast<double>(entry.bytes_before);
    bar.css_class = "after";
    bar.tooltip = fmt::format("#{} {}: {} → {}", i + 1, entry.name, format_bytes(entry.bytes_before),
                              format_bytes(entry.bytes_after));
    chart.bars.push_back(std::move(bar));
  }
  section += "<p class=\"caption\">Stored bytes of each quantized weight, in the same order. The size after "
             "includes scales and zero points.</p>\n";
  section += render_bar_chart(chart);
  section += legend({{"before", "before"}, {"after", "after"}});
  section += "</section>\n";
  return section;
}

std::string tensor_table_section(const Report& report) {
  std::string section = fmt::format("<section id=\"tensors\">\n<h2>Quantized tensors ({})</h2>\n", report.tensors.size());
  if (report.tensors.empty()) return section + "<p class=\"empty\">No tensor was quantized.</p>\n</section>\n";

  const double threshold = low_sqnr_threshold_db(report);
  section += "<div class=\"table-wrap\"><table>\n<thead><tr><th class=\"num\">#</th><th>tensor</th><th>read by</th>"
             "<th class=\"num\">shape</th><th>dtype</th><th>scheme</th><th class=\"num\">before</th>"
             "<th class=\"num\">after</th><th class=\"num\">SQNR dB</th><th class=\"num\">cosine</th>"
             "<th class=\"num\">max abs error</th></tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < report.tensors.size(); ++i) section += tensor_row(report.tensors[i], i, threshold);
  section += "</tbody></table></div>\n</section>\n";
  return section;
}

std::string skipped_table_section(const Report& report) {
  std::string section = fmt::format("<section id=\"skipped\">\n<h2>Kept float ({})</h2>\n", report.skipped.size());
  if (report.skipped.empty()) return section + "<p class=\"empty\">No candidate weight was kept float.</p>\n</section>\n";

  section += "<div class=\"table-wrap\"><table>\n<thead><tr><th class=\"num\">#</th><th>tensor</th><th>read by</th>"
             "<th class=\"num\">shape</th><th>dtype</th><th class=\"num\">size</th><th>reason</th></tr></thead>\n"
             "<tbody>\n";
  for (size_t i = 0; i < report.skipped.size(); ++i) section += skipped_row(report.skipped[i], i);
  section += "</tbody></table></div>\n</section>\n";
  return section;
}

}  // namespace report

std::string report_to_html(const Report& report) {
  const nlohmann::json document = report::report_document(report);
  std::string page = report::page_start(report);
  page += report::summary_section(report, document);
  page += report::evaluation_section(report);
  page += report::calibration_section(report);
  page += report::error_chart_section(report);
  page += report::size_chart_section(report);
  page += report::tensor_table_section(report);
  page += report::skipped_table_section(report);
  page += report::page_end();
  return page;
}

bool is_html_report_path(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".html";
}

std::string format_report_for_path(const Report& report, const std::filesystem::path& path) {
  return is_html_report_path(path) ? report_to_html(report) : report_to_json(report);
}

}  // namespace onnxquant
