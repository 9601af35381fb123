// Accuracy gates: limits on the figures of each output, checked after an evaluation.
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/evaluation.hpp"

namespace onnxquant {
namespace {

enum class Bound { kMax, kMin };

struct Gate {
  const char* option;
  const char* figure;
  Bound bound;
  bool logits_only;
  std::optional<double> AccuracyGates::*limit;
  double OutputEvaluation::*value;
};

constexpr Gate kGates[] = {
    {"--max-kl", "KL divergence (mean over rows)", Bound::kMax, true, &AccuracyGates::max_kl,
     &OutputEvaluation::kl_divergence},
    {"--min-cosine", "cosine similarity", Bound::kMin, false, &AccuracyGates::min_cosine,
     &OutputEvaluation::cosine_similarity},
    {"--max-abs-error", "max absolute error", Bound::kMax, false, &AccuracyGates::max_abs_error,
     &OutputEvaluation::max_abs_error},
    {"--min-top1", "top-1 agreement", Bound::kMin, true, &AccuracyGates::min_top1, &OutputEvaluation::top1_agreement},
};

const Gate& gate_named(const std::string& option) {
  for (const Gate& gate : kGates) {
    if (option == gate.option) return gate;
  }
  throw std::logic_error("unknown accuracy gate " + option);
}

// NaN never passes a gate.
bool passes(double value, double limit, Bound bound) {
  return bound == Bound::kMax ? value <= limit : value >= limit;
}

void validate_gate(const std::optional<double>& limit, const char* option, double lowest, double highest) {
  if (!limit) return;
  if (!(*limit >= lowest && *limit <= highest)) {
    throw UsageError(fmt::format("{} {} is out of range; give a value from {} to {}", option, *limit, lowest, highest));
  }
}

}  // namespace

void validate_evaluation_options(const EvaluationOptions& options) {
  const bool files = !options.input_files.empty();
  if (files && (options.samples || options.seed || !options.dims.empty())) {
    throw UsageError(fmt::format("{}, --seed and --dim apply to generated inputs only; they cannot be combined with "
                                 "{}",
                                 options.samples_option, options.inputs_option));
  }
  if (options.samples && (*options.samples < 1 || *options.samples > kMaxSamples)) {
    throw UsageError(fmt::format("{} {} is out of range; give 1 to {}", options.samples_option, *options.samples,
                                 kMaxSamples));
  }
  for (const auto& [name, value] : options.dims) {
    if (value < 0) throw UsageError(fmt::format("--dim {}={} is negative", name, value));
  }
  if (options.vocab_size < 0) throw UsageError(fmt::format("--vocab-size {} is negative", options.vocab_size));
  if (options.threads < 0) throw UsageError(fmt::format("--threads {} is negative", options.threads));

  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  validate_gate(options.gates.max_kl, "--max-kl", 0.0, kInfinity);
  validate_gate(options.gates.min_cosine, "--min-cosine", -1.0, 1.0);
  validate_gate(options.gates.max_abs_error, "--max-abs-error", 0.0, kInfinity);
  validate_gate(options.gates.min_top1, "--min-top1", 0.0, 1.0);
}

std::vector<GateViolation> check_gates(const std::vector<OutputEvaluation>& outputs, const AccuracyGates& gates) {
  std::vector<GateViolation> violations;
  for (const Gate& gate : kGates) {
    const std::optional<double>& limit = gates.*gate.limit;
    if (!limit) continue;

    bool measured = false;
    for (const OutputEvaluation& output : outputs) {
      if (gate.logits_only && !output.logits) continue;
      measured = true;
      if (!output.measured()) {
        violations.push_back({gate.option, output.name, std::numeric_limits<double>::quiet_NaN(), *limit, true});
        continue;
      }
      const double value = output.*gate.value;
      if (!passes(value, *limit, gate.bound)) violations.push_back({gate.option, output.name, value, *limit});
    }
    if (!measured) {
      violations.push_back({gate.option, "", std::numeric_limits<double>::quiet_NaN(), *limit});
    }
  }
  return violations;
}

std::string describe_violation(const GateViolation& violation) {
  const Gate& gate = gate_named(violation.gate);
  if (violation.output.empty()) {
    return fmt::format("accuracy gate {} {} failed: no output is logits (a float output named like 'logits', or "
                       "whose last dimension is the vocabulary size), so its {} was not measured; set --vocab-size "
                       "or remove the gate",
                       violation.gate, violation.limit, gate.figure);
  }
  if (violation.empty_comparison) {
    return fmt::format("accuracy gate {} {} failed: output {} has no finite elements to compare, so {} cannot be "
                       "checked; give inputs for which the output has elements that are finite in both models",
                       violation.gate, violation.limit, io::quoted_name(violation.output), violation.gate);
  }
  if (std::isnan(violation.value)) {
    return fmt::format("accuracy gate {} {} failed on output {}: the {} is undefined, because the outputs have NaN or "
                       "infinite values that differ",
                       violation.gate, violation.limit, io::quoted_name(violation.output), gate.figure);
  }
  return fmt::format("accuracy gate {} failed on output {}: {} {} is {} the limit {}", violation.gate,
                     io::quoted_name(violation.output), gate.figure, violation.value,
                     gate.bound == Bound::kMax ? "above" : "below", violation.limit);
}

}  // namespace onnxquant
