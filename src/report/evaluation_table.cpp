#include <cmath>
#include <fmt/format.h>

#include "io/tensor_data.hpp"
#include "onnxquant/evaluation.hpp"

namespace onnxquant {
namespace {

constexpr size_t kNameWidth = 32;

// Keeps the end of a long name, which is the part that differs between outputs.
std::string fit_name(const std::string& text) {
  if (text.size() <= kNameWidth) return text;
  return "..." + text.substr(text.size() - (kNameWidth - 3));
}

std::string figure(double value, const char* format) {
  if (std::isnan(value)) return "n/a";
  if (std::isinf(value)) return "inf";
  return fmt::format(fmt::runtime(format), value);
}

std::string input_line(const EvaluationReport& report) {
  std::string line = report.input_source == "generated"
                         ? fmt::format("{} generated sample(s), seed {}", report.samples, report.seed.value_or(0))
                         : fmt::format("{} sample(s) from {} input file(s)", report.samples, report.input_files.size());
  if (!report.dims.empty()) {
    std::vector<std::string> dims;
    for (const auto& [name, value] : report.dims) dims.push_back(fmt::format("{}={}", name, value));
    line += fmt::format("; dimensions {}", fmt::join(dims, " "));
  }
  if (report.vocab_size > 0) line += fmt::format("; vocabulary {} ({})", report.vocab_size, report.vocab_source);
  return line;
}

void append_gates(std::string& out, const EvaluationReport& report) {
  std::vector<std::string> set;
  if (report.gates.max_kl) set.push_back(fmt::format("--max-kl {}", *report.gates.max_kl));
  if (report.gates.min_cosine) set.push_back(fmt::format("--min-cosine {}", *report.gates.min_cosine));
  if (report.gates.max_abs_error) set.push_back(fmt::format("--max-abs-error {}", *report.gates.max_abs_error));
  if (report.gates.min_top1) set.push_back(fmt::format("--min-top1 {}", *report.gates.min_top1));
  if (set.empty()) return;
  if (report.violations.empty()) {
    out += fmt::format("\nAccuracy gates passed: {}\n", fmt::join(set, ", "));
    return;
  }
  out += fmt::format("\nAccuracy gates FAILED ({} violation(s)); gates: {}\n", report.violations.size(),
                     fmt::join(set, ", "));
  for (const auto& violation : report.violations) out += fmt::format("  {}\n", describe_violation(violation));
}

}  // namespace

std::string format_evaluation_table(const EvaluationReport& report) {
  std::string out = fmt::format("\nEvaluation: {}\n", input_line(report));
  if (!report.reference_path.empty()) {
    out += fmt::format("  reference {}\n  candidate {}\n", report.reference_path, report.candidate_path);
  }
  out += "\n";
  out += fmt::format("{:<{}} {:<16} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}\n", "output", kNameWidth, "shape",
                     "max abs", "mean abs", "rel L2", "cosine", "top-1", "KL mean");
  for (const auto& output : report.outputs) {
    // An empty comparison measured nothing, so it prints "-" as a figure that does not apply.
    const bool measured = output.measured();
    const auto figure_or_dash = [&](bool applies, double value, const char* format) {
      return applies && measured ? figure(value, format) : std::string("-");
    };
    out += fmt::format("{:<{}} {:<16} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}\n", fit_name(output.name), kNameWidth,
                       io::format_shape(output.shape), figure_or_dash(true, output.max_abs_error, "{:.3g}"),
                       figure_or_dash(true, output.mean_abs_error, "{:.3g}"),
                       figure_or_dash(true, output.relative_l2_error, "{:.3g}"),
                       figure_or_dash(true, output.cosine_similarity, "{:.6f}"),
                       figure_or_dash(output.logits, output.top1_agreement, "{:.4f}"),
                       figure_or_dash(output.logits, output.kl_divergence, "{:.3g}"));
    if (!measured) {
      out += fmt::format("  no element is finite in both models ({} element(s) left out), so nothing was compared\n",
                         output.elements);
    }
    if (output.nonfinite_mismatches > 0) {
      out += fmt::format("  {} value(s) are NaN or infinite in one model and differ in the other\n",
                         output.nonfinite_mismatches);
    }
  }
  append_gates(out, report);
  out += fmt::format("\n  wall time          {:.2f} s\n", report.wall_time_seconds);
  return out;
}

}  // namespace onnxquant
