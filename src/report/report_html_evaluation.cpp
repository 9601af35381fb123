// The HTML report's evaluation and calibration sections: the figures of each output of the input
// and the quantized model, and the activations that --calibration-data measured.
#include <cmath>
#include <fmt/format.h>

#include "io/tensor_data.hpp"
#include "report/html_escape.hpp"
#include "report/report_html.hpp"

namespace onnxquant::report {
namespace {

// A figure cell. A figure that does not apply to the output, or of an empty comparison, shows "-";
// an undefined one "n/a", as in the terminal table.
std::string figure_cell(bool applies, double value, const char* format) {
  std::string text = "-";
  if (applies && std::isnan(value)) text = "n/a";
  if (applies && std::isinf(value)) text = value > 0 ? "inf" : "-inf";
  if (applies && std::isfinite(value)) text = fmt::format(fmt::runtime(format), value);
  return fmt::format(R"(<td class="num">{}</td>)", text);
}

bool fails_a_gate(const EvaluationReport& evaluation, const OutputEvaluation& output) {
  for (const auto& violation : evaluation.violations) {
    if (violation.output == output.name) return true;
  }
  return false;
}

std::string output_row(const EvaluationReport& evaluation, const OutputEvaluation& output) {
  const bool measured = output.measured();
  std::string row = fmt::format(R"(<tr{}><td class="name">{}</td><td class="num">{}</td><td class="num">{}</td>)",
                                fails_a_gate(evaluation, output) ? R"( class="low")" : "", escape_html(output.name),
                                io::format_shape(output.shape), output.compared_elements);
  row += figure_cell(measured, output.max_abs_error, "{:.3g}");
  row += figure_cell(measured, output.mean_abs_error, "{:.3g}");
  row += figure_cell(measured, output.relative_l2_error, "{:.3g}");
  row += figure_cell(measured, output.cosine_similarity, "{:.6f}");
  row += figure_cell(measured && output.logits, output.top1_agreement, "{:.4f}");
  row += figure_cell(measured && output.logits, output.kl_divergence, "{:.3g}");
  row += fmt::format(R"(<td class="num">{}</td></tr>)"
                     "\n",
                     output.nonfinite_mismatches);
  return row;
}

std::string inputs_caption(const EvaluationReport& evaluation) {
  if (evaluation.input_source == "generated") {
    return fmt::format("{} generated sample(s), seed {}", evaluation.samples, evaluation.seed.value_or(0));
  }
  return fmt::format("{} sample(s) from {} input file(s)", evaluation.samples, evaluation.input_files.size());
}

std::string gates_list(const EvaluationReport& evaluation) {
  if (!evaluation.gates.any()) return "<p class=\"caption\">No accuracy gate was set.</p>\n";
  if (evaluation.violations.empty()) return "<p class=\"caption\">Every accuracy gate passed.</p>\n";
  std::string list = fmt::format("<h3>Failed accuracy gates ({})</h3><ul class=\"notes\">", evaluation.violations.size());
  for (const auto& violation : evaluation.violations) {
    list += fmt::format("<li>{}</li>", escape_html(describe_violation(violation)));
  }
  return list + "</ul>\n";
}

std::string activation_row(const ActivationReport& activation) {
  const bool quantized = activation.scale != 0.0f;
  return fmt::format(R"(<tr><td class="name">{}</td><td class="num">{}</td><td class="num">{}</td>)"
                     R"(<td class="num">{:.4g} … {:.4g}</td><td class="num">{}</td><td class="num">{}</td></tr>)"
                     "\n",
                     escape_html(activation.name), activation.values, activation.non_finite_values,
                     activation.observed_min, activation.observed_max,
                     quantized ? fmt::format("{:.4g} … {:.4g}", activation.range_min, activation.range_max) : "-",
                     quantized ? fmt::format("{:.4g}", activation.scale) : "-");
}

}  // namespace

std::string evaluation_section(const Report& report) {
  if (!report.evaluation) return {};
  const EvaluationReport& evaluation = *report.evaluation;
  std::string section = "<section id=\"evaluation\">\n<h2>Evaluation</h2>\n";
  section += fmt::format(
      "<p class=\"caption\">The input model and the quantized model on the same inputs: {}. Each row compares one "
      "output; \"-\" marks a figure that does not apply, or an output with no element that is finite in both "
      "models.</p>\n",
      escape_html(inputs_caption(evaluation)));
  section += "<div class=\"table-wrap\"><table>\n<thead><tr><th>output</th><th class=\"num\">shape</th>"
             "<th class=\"num\">compared</th><th class=\"num\">max abs</th><th class=\"num\">mean abs</th>"
             "<th class=\"num\">rel L2</th><th class=\"num\">cosine</th><th class=\"num\">top-1</th>"
             "<th class=\"num\">KL mean</th><th class=\"num\">non-finite mismatches</th></tr></thead>\n<tbody>\n";
  for (const auto& output : evaluation.outputs) section += output_row(evaluation, output);
  section += "</tbody></table></div>\n";
  section += gates_list(evaluation);
  section += "</section>\n";
  return section;
}

std::string calibration_section(const Report& report) {
  if (report.options.calibration_data.empty()) return {};
  size_t quantized = 0;
  uint64_t non_finite = 0;
  for (const auto& activation : report.activations) {
    if (activation.scale != 0.0f) ++quantized;
    non_finite += activation.non_finite_values;
  }
  std::string section = "<section id=\"calibration\">\n<h2>Calibration</h2>\n";
  section += fmt::format(
      "<p class=\"caption\">{} sample(s) from {}, method {}: {} activation(s) measured, {} quantized, {} NaN or "
      "infinite value(s) left out of the statistics.</p>\n",
      report.calibration_samples, escape_html(report.options.calibration_data),
      to_string(report.options.calibration_method), report.activations.size(), quantized, non_finite);
  if (report.activations.empty()) return section + "</section>\n";
  section += "<div class=\"table-wrap\"><table>\n<thead><tr><th>activation</th><th class=\"num\">finite values</th>"
             "<th class=\"num\">NaN or infinite</th><th class=\"num\">observed range</th>"
             "<th class=\"num\">quantized range</th><th class=\"num\">scale</th></tr></thead>\n<tbody>\n";
  for (const auto& activation : report.activations) section += activation_row(activation);
  section += "</tbody></table></div>\n</section>\n";
  return section;
}

}  // namespace onnxquant::report
