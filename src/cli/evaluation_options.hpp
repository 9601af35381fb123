// Command-line options of the accuracy evaluation, shared by `compare` and `quantize`.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "onnxquant/evaluation.hpp"

namespace onnxquant::cli {

struct EvaluationArguments {
  std::vector<std::string> inputs;
  int64_t samples = kDefaultSamples;
  uint64_t seed = 0;
  std::vector<std::string> dims;
  int64_t vocab_size = 0;
  std::string save_inputs;
  double max_kl = 0.0;
  double min_cosine = 0.0;
  double max_abs_error = 0.0;
  double min_top1 = 0.0;

  // Set by add_evaluation_options, so that options given on the command line can be told apart
  // from their defaults.
  // other_options are all but the inputs and samples options.
  std::vector<CLI::Option*> other_options;
  CLI::Option* inputs_option = nullptr;
  CLI::Option* samples_option = nullptr;
  CLI::Option* seed_option = nullptr;
  CLI::Option* max_kl_option = nullptr;
  CLI::Option* min_cosine_option = nullptr;
  CLI::Option* max_abs_error_option = nullptr;
  CLI::Option* min_top1_option = nullptr;
};

// Adds the input, dimension, vocabulary, --save-inputs and gate options to `command`. `quantize`
// names the input options --eval-inputs and --eval-samples, because there they also turn the
// evaluation on; `compare` names them --inputs and --samples.
void add_evaluation_options(CLI::App& command, EvaluationArguments& arguments, bool quantize);

// The options as given. For quantize, returns nothing unless --eval-inputs or --eval-samples was
// given, and throws UsageError when another evaluation option was given without them. Throws
// UsageError for a --dim entry that is not NAME=N with N a non-negative integer.
std::optional<EvaluationOptions> evaluation_options(const EvaluationArguments& arguments, bool quantize);

// Logs each gate violation as an error and returns the exit code: kAccuracyGateFailed when a gate
// failed, 0 otherwise.
int gate_exit_code(const EvaluationReport& report);

}  // namespace onnxquant::cli
