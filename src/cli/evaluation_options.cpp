#include "cli/evaluation_options.hpp"

#include <charconv>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "onnxquant/errors.hpp"

namespace onnxquant::cli {
namespace {

CLI::Option* add_repeated(CLI::App& command, const std::string& name, std::vector<std::string>& values,
                          const std::string& help) {
  return command.add_option(name, values, help)
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::pair<std::string, int64_t> parse_dim(const std::string& entry) {
  const size_t equals = entry.rfind('=');
  const std::string name = equals == std::string::npos ? "" : entry.substr(0, equals);
  const std::string text = equals == std::string::npos ? "" : entry.substr(equals + 1);
  int64_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (name.empty() || text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0) {
    throw UsageError(fmt::format("--dim '{}' is invalid; use NAME=N with the name of a symbolic input dimension and "
                                 "a non-negative integer N, for example --dim sequence_length=16",
                                 entry));
  }
  return {name, value};
}

bool given(const CLI::Option* option) { return option != nullptr && option->count() > 0; }

std::optional<double> gate(const CLI::Option* option, double value) {
  return given(option) ? std::optional<double>(value) : std::nullopt;
}

}  // namespace

void add_evaluation_options(CLI::App& command, EvaluationArguments& arguments, bool quantize) {
  const std::string prefix = quantize ? "--eval-" : "--";
  arguments.inputs_option =
      add_repeated(command, prefix + "inputs", arguments.inputs,
                   "Input files: NAME=FILE (.npy or TensorProto .pb) for each input, or one folder of input_I.pb / "
                   "test_data_set_K folders; repeat NAME=FILE for more");
  arguments.samples_option = command.add_option(prefix + "samples", arguments.samples,
                                                "Number of generated input samples (default 1)");

  arguments.seed_option =
      command.add_option("--seed", arguments.seed, "Seed of the generated inputs (default 0)");
  std::vector<CLI::Option*>& other = arguments.other_options;
  other.push_back(arguments.seed_option);
  other.push_back(add_repeated(command, "--dim", arguments.dims,
                               "NAME=N: value of a symbolic input dimension for generated inputs; repeat for more"));
  other.push_back(command.add_option("--vocab-size", arguments.vocab_size,
                                     "Vocabulary size: range of integer inputs without an embedding table, and the "
                                     "last dimension that marks an output as logits (default: from the model)"));
  other.push_back(command.add_option("--save-inputs", arguments.save_inputs,
                                     "Write the inputs to this new folder as test_data_set_K/input_I.pb"));
  arguments.max_kl_option = command.add_option("--max-kl", arguments.max_kl,
                                               "Gate: largest mean KL divergence (nats) of each logits output");
  arguments.min_cosine_option = command.add_option("--min-cosine", arguments.min_cosine,
                                                   "Gate: smallest cosine similarity of each output");
  arguments.max_abs_error_option = command.add_option("--max-abs-error", arguments.max_abs_error,
                                                      "Gate: largest absolute error of each output");
  arguments.min_top1_option = command.add_option("--min-top1", arguments.min_top1,
                                                 "Gate: smallest top-1 agreement (0 to 1) of each logits output");
  other.insert(other.end(), {arguments.max_kl_option, arguments.min_cosine_option, arguments.max_abs_error_option,
                             arguments.min_top1_option});
}

std::optional<EvaluationOptions> evaluation_options(const EvaluationArguments& arguments, bool quantize) {
  const bool evaluate = !quantize || given(arguments.inputs_option) || given(arguments.samples_option);
  if (!evaluate) {
    for (const CLI::Option* option : arguments.other_options) {
      if (given(option)) {
        throw UsageError(fmt::format("{} applies only with --eval-samples or --eval-inputs", option->get_name()));
      }
    }
    return std::nullopt;
  }

  EvaluationOptions options;
  if (quantize) {
    options.inputs_option = "--eval-inputs";
    options.samples_option = "--eval-samples";
  }
  options.input_files = arguments.inputs;
  if (given(arguments.samples_option)) options.samples = arguments.samples;
  if (given(arguments.seed_option)) options.seed = arguments.seed;
  for (const auto& entry : arguments.dims) {
    const auto [name, value] = parse_dim(entry);
    if (options.dims.count(name) > 0) throw UsageError(fmt::format("--dim sets '{}' twice", name));
    options.dims[name] = value;
  }
  options.vocab_size = arguments.vocab_size;
  options.save_inputs = arguments.save_inputs;
  options.gates.max_kl = gate(arguments.max_kl_option, arguments.max_kl);
  options.gates.min_cosine = gate(arguments.min_cosine_option, arguments.min_cosine);
  options.gates.max_abs_error = gate(arguments.max_abs_error_option, arguments.max_abs_error);
  options.gates.min_top1 = gate(arguments.min_top1_option, arguments.min_top1);
  validate_evaluation_options(options);
  return options;
}

int gate_exit_code(const EvaluationReport& report) {
  if (report.violations.empty()) return 0;
  for (const auto& violation : report.violations) spdlog::error("{}", describe_violation(violation));
  return static_cast<int>(ExitCode::kAccuracyGateFailed);
}

}  // namespace onnxquant::cli
