// The onnxquant command line: `inspect`, `check`, `quantize`, `compare` and `run`.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <spdlog/version.h>
#include <google/protobuf/stubs/common.h>
#include <unistd.h>

#include "cli/progress_display.hpp"
#include "cli/status_line_sink.hpp"

#include "cli/folder_commands.hpp"
#include "cli/compare_command.hpp"
#include "cli/evaluation_options.hpp"
#include "cli/run_command.hpp"
#include "onnxquant/check.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/inspect.hpp"
#include "onnxquant/model_folder.hpp"
#include "onnxquant/quantize.hpp"
#include "onnxquant/version.hpp"

namespace {

using onnxquant::ExitCode;

struct InspectArguments {
  std::string model;
  bool json = false;
};

struct QuantizeArguments {
  std::string model;
  std::string output;
  std::string precision;
  std::string report;
  std::string external_data = "auto";
  std::string scale_search = "auto";
  std::vector<std::string> overrides;
  std::string mixed = "none";
  std::string format;
  std::string calibration_method = "minmax";
  bool no_table = false;
  bool no_progress = false;
  onnxquant::QuantizeOptions options;
  onnxquant::cli::EvaluationArguments evaluation;
};

int run_inspect(const InspectArguments& arguments) {
  if (onnxquant::is_model_folder_path(arguments.model)) {
    return onnxquant::cli::run_inspect_folder(arguments.model, arguments.json);
  }
  onnxquant::LoadOptions load;
  load.external_data = onnxquant::ExternalDataLoading::kMap;
  onnxquant::Model model = onnxquant::load_model(arguments.model, load);
  std::cout << (arguments.json ? onnxquant::inspect_json(model) : onnxquant::inspect_text(model));
  return 0;
}

// `status` is the terminal's status line, or null when standard error is not a terminal or -q is set.
int run_quantize(QuantizeArguments& arguments, std::shared_ptr<onnxquant::cli::StatusLineSink> status) {
  static const std::map<std::string, onnxquant::Precision> kPrecisions = {
      {"int8", onnxquant::Precision::kInt8},
      {"int4", onnxquant::Precision::kInt4},
      {"fp16", onnxquant::Precision::kFp16},
      {"bf16", onnxquant::Precision::kBf16},
      {"fp32", onnxquant::Precision::kFp32},
  };
  static const std::map<std::string, onnxquant::ExternalDataMode> kExternalModes = {
      {"auto", onnxquant::ExternalDataMode::kAuto},
      {"always", onnxquant::ExternalDataMode::kAlways},
      {"never", onnxquant::ExternalDataMode::kNever},
  };

  onnxquant::QuantizeFileOptions options;
  options.quantize = arguments.options;
  options.quantize.precision = kPrecisions.at(arguments.precision);
  options.external_data = kExternalModes.at(arguments.external_data);
  static const std::map<std::string, onnxquant::ScaleSearch> kScaleSearches = {
      {"auto", onnxquant::ScaleSearch::kAuto},
      {"none", onnxquant::ScaleSearch::kNone},
      {"mse", onnxquant::ScaleSearch::kMse},
  };
  options.quantize.scale_search = kScaleSearches.at(arguments.scale_search);
  options.quantize.mixed =
      arguments.mixed == "sensitive" ? onnxquant::MixedPolicy::kSensitive : onnxquant::MixedPolicy::kNone;
  for (const auto& text : arguments.overrides) {
    const auto equals = text.rfind('=');
    if (equals == std::string::npos) {
      throw onnxquant::UsageError(fmt::format("--override '{}' is invalid; use PATTERN=PRECISION", text));
    }
    options.quantize.overrides.push_back({text.substr(0, equals), text.substr(equals + 1)});
  }
  static const std::map<std::string, onnxquant::WeightFormat> kFormats = {
      {"", onnxquant::WeightFormat::kDefault},
      {"qdq", onnxquant::WeightFormat::kQdq},
      {"matmulnbits", onnxquant::WeightFormat::kMatMulNBits},
      {"dynamic", onnxquant::WeightFormat::kDynamic},
  };
  options.quantize.format = kFormats.at(arguments.format);
  static const std::map<std::string, onnxquant::CalibrationMethod> kCalibrationMethods = {
      {"minmax", onnxquant::CalibrationMethod::kMinMax},
      {"percentile", onnxquant::CalibrationMethod::kPercentile},
      {"mse", onnxquant::CalibrationMethod::kMse},
  };
  options.quantize.calibration_method = kCalibrationMethods.at(arguments.calibration_method);

  options.report_path = arguments.report;
  options.evaluation = onnxquant::cli::evaluation_options(arguments.evaluation, true);
  onnxquant::cli::ProgressDisplay progress(std::move(status));
  if (!arguments.no_progress) {
    options.progress = [&progress](const onnxquant::QuantizeProgress& state) { progress.update(state); };
  }
  if (onnxquant::is_model_folder_path(arguments.model)) {
    return onnxquant::cli::run_quantize_folder(arguments.model, arguments.output, options, arguments.no_table);
  }
  const onnxquant::Report report = onnxquant::quantize_file(arguments.model, arguments.output, options);
  if (!arguments.no_table) std::cout << onnxquant::format_report_table(report);
  if (!report.evaluation) return 0;
  if (!arguments.no_table) std::cout << onnxquant::format_evaluation_table(*report.evaluation);
  return onnxquant::cli::gate_exit_code(*report.evaluation);
}

// Prints every finding; exits with kInvalidModel when there is one.
int run_check(const std::string& model) {
  const std::vector<std::string> findings = onnxquant::check_model_file(model);
  for (const auto& finding : findings) std::cout << finding << "\n";
  if (findings.empty()) {
    spdlog::info("{}: no findings", model);
    return 0;
  }
  spdlog::error("{}: {} finding(s), listed on standard output", model, findings.size());
  return static_cast<int>(ExitCode::kInvalidModel);
}

// The version of onnxquant and of the libraries it was built with.
std::string version_text() {
  const int protobuf = GOOGLE_PROTOBUF_VERSION;
  return fmt::format("onnxquant {}\nbuilt with onnx {}, protobuf {}.{}.{}, CLI11 {}, spdlog {}.{}.{}, fmt {}.{}.{}",
                     onnxquant::kVersion, ONNXQUANT_ONNX_VERSION, protobuf / 1000000, protobuf / 1000 % 1000,
                     protobuf % 1000, CLI11_VERSION, SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH,
                     FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
}

// Returns the status line of standard error when it is a terminal, or null.
std::shared_ptr<onnxquant::cli::StatusLineSink> configure_logging(int verbosity, bool quiet) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  std::shared_ptr<onnxquant::cli::StatusLineSink> status;
  if (isatty(fileno(stderr)) == 1) status = std::make_shared<onnxquant::cli::StatusLineSink>(console, stderr);
  auto logger = std::make_shared<spdlog::logger>(
      "onnxquant", status ? std::static_pointer_cast<spdlog::sinks::sink>(status) : console);
  logger->set_pattern("%^[%l]%$ %v");
  spdlog::set_default_logger(logger);
  if (quiet) {
    spdlog::set_level(spdlog::level::warn);
  } else {
    spdlog::set_level(verbosity > 0 ? spdlog::level::debug : spdlog::level::info);
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"onnxquant: quantize ONNX models and report what it cost in accuracy"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  app.set_config("--config", "", "Read options from a TOML or INI file; options of quantize go in a [quantize] section");
  // A misspelled key in the file is an error, not a silently ignored option.
  app.allow_config_extras(CLI::config_extras_mode::error);
  int verbosity = 0;
  bool quiet = false;
  auto* verbose_flag = app.add_flag("-v,--verbose", verbosity, "Log details at debug level");
  app.add_flag("-q,--quiet", quiet, "Log warnings and errors only")->excludes(verbose_flag);
  // Subcommands accept -v and -q too, before or after their own arguments.
  app.fallthrough();

  InspectArguments inspect;
  auto* inspect_command = app.add_subcommand("inspect", "Describe a model: opsets, operators, inputs, outputs, weights");
  inspect_command->add_option("model", inspect.model, "Path of the .onnx model or of a GenAI model folder")->required();
  inspect_command->add_flag("--json", inspect.json, "Print JSON instead of text");

  std::string check_model;
  auto* check_command = app.add_subcommand("check", "Check a model's names, order and quantization parameters");
  check_command->add_option("model", check_model, "Path of the .onnx model")->required();

  onnxquant::cli::RunArguments run;
  auto* run_command = app.add_subcommand("run", "Evaluate a model with the built-in reference evaluator");
  run_command->add_option("model", run.model, "Path of the .onnx model")->required();
  run_command->add_option("inputs", run.inputs,
                          "Input tensors as serialized onnx.TensorProto files; a named tensor feeds the input of "
                          "that name, unnamed ones feed the rest in graph order");
  run_command->add_option("-o,--output-dir", run.output_dir, "Write each output i to this folder as output_<i>.pb");
  run_command->add_option("--threads", run.threads, "Threads, counting the main one; 0 for one per hardware thread")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  run_command->add_option("--repeat", run.repeat, "Run this many more times and print the median and best run time")
      ->check(CLI::NonNegativeNumber);

  QuantizeArguments quantize;
  auto* quantize_command = app.add_subcommand("quantize", "Quantize the weights of a model");
  quantize_command
      ->add_option("model", quantize.model, "Path of the input .onnx model, or of a GenAI model folder (genai_config.json)")
      ->required();
  quantize_command
      ->add_option("-o,--output", quantize.output,
                   "Path of the output .onnx model, or a new or empty folder for a folder input")
      ->required();
  quantize_command->add_option("-p,--precision", quantize.precision, "Target precision: int8, int4, fp16, bf16 or fp32")
      ->required()
      ->transform(CLI::IsMember({"int8", "int4", "fp16", "bf16", "fp32"}, CLI::ignore_case));
  quantize_command->add_option("--report", quantize.report,
                               "Write the accuracy report to this file: an HTML page for .html, JSON otherwise");
  quantize_command->add_flag("--per-channel", quantize.options.per_channel,
                             "INT8: one scale per output channel instead of one per tensor");
  quantize_command->add_flag("--asymmetric", quantize.options.asymmetric,
                             "Use unsigned codes with a zero point (uint8 for INT8, zero points for INT4)");
  auto* block_size = quantize_command
                         ->add_option("--block-size", quantize.options.block_size,
                                      "INT4: elements of K per scale, a power of two of at least 16")
                         ->capture_default_str();
  quantize_command->add_option("--min-elements", quantize.options.min_elements,
                               "Weights with fewer elements stay float")
      ->capture_default_str();
  quantize_command->add_option("--exclude", quantize.options.exclude, "Node or weight name to keep float; repeat for more")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* accuracy_level =
      quantize_command
          ->add_option("--accuracy-level", quantize.options.accuracy_level,
                       "INT4: MatMulNBits accuracy_level, 0 (runtime default) to 4 (int8 compute)")
          ->capture_default_str();
  quantize_command->add_option("--external-data", quantize.external_data,
                               "Store tensors in OUTPUT.data: auto (when the input did or above 2 GiB), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  auto* scale_search = quantize_command
      ->add_option("--scale-search", quantize.scale_search,
                   "INT4/INT8 scales: mse (minimize squared error), none (min/max), auto (mse for INT4 only)")
      ->check(CLI::IsMember({"auto", "none", "mse"}))
      ->capture_default_str();
  quantize_command
      ->add_option("--override", quantize.overrides,
                   "PATTERN=PRECISION: weights or nodes matching the shell pattern get int4, int8, fp16, fp32 or skip; "
                   "repeat for more, the last match wins")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  quantize_command
      ->add_option("--mixed", quantize.mixed,
                   "INT4: 'sensitive' keeps the output projection and the weights with the lowest INT4 SQNR in INT8")
      ->check(CLI::IsMember({"none", "sensitive"}))
      ->capture_default_str();
  auto* sensitive_fraction = quantize_command
      ->add_option("--sensitive-fraction", quantize.options.sensitive_fraction,
                   "--mixed sensitive: share of INT4 weight elements that may move to INT8")
      ->capture_default_str();
  auto* quantize_embeddings = quantize_command->add_flag("--quantize-embeddings", quantize.options.quantize_embeddings,
                             "INT8/INT4: quantize constant Gather tables (token embeddings) too");
  quantize_command
      ->add_option("--format", quantize.format,
                   "Operators of the quantized weights: qdq (DequantizeLinear) or matmulnbits for int8 and int4, "
                   "dynamic (int8 activations too) for int8; default qdq for int8, matmulnbits for int4")
      ->transform(CLI::IsMember({"qdq", "matmulnbits", "dynamic"}, CLI::ignore_case));
  auto* fp16_io = quantize_command->add_flag("--fp16-io,--convert-io", quantize.options.convert_io,
                             "FP16/BF16: convert the float32 graph inputs and outputs too");
  auto* keep_fp32_op = quantize_command
      ->add_option("--keep-fp32-op", quantize.options.keep_fp32_ops,
                   "FP16: operator type that keeps computing in float32; repeat for more")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* keep_fp32_node = quantize_command
      ->add_option("--keep-fp32-node", quantize.options.keep_fp32_nodes,
                   "FP16: node name that keeps computing in float32; repeat for more")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  quantize_command
      ->add_option("--threads", quantize.options.threads,
                   "Threads that quantize, convert and measure each tensor; 0 uses every hardware thread")
      ->check(CLI::Range(0, onnxquant::kMaxThreads))
      ->capture_default_str();
  quantize_command->add_flag("--no-table", quantize.no_table, "Do not print the report table");
  quantize_command->add_flag("--no-progress", quantize.no_progress,
                             "Show no progress bar on a terminal and log no progress lines otherwise");
  quantize_command->add_option("--calibration-data", quantize.options.calibration_data,
                               "Folder of calibration samples (the layout of compare --inputs DIR): INT8 also "
                               "quantizes activations, INT4 weights its scale search by input-channel importance");
  auto* calibration_method = quantize_command
      ->add_option("--calibration-method", quantize.calibration_method,
                   "Activation ranges: minmax, percentile (--calibration-percentile) or mse (least squared error)")
      ->check(CLI::IsMember({"minmax", "percentile", "mse"}))
      ->capture_default_str();
  auto* calibration_percentile = quantize_command
      ->add_option("--calibration-percentile", quantize.options.calibration_percentile,
                   "--calibration-method percentile: the upper percentile kept, above 50 and at most 100")
      ->capture_default_str();
  onnxquant::cli::add_evaluation_options(*quantize_command, quantize.evaluation, true);

  onnxquant::cli::CompareArguments compare;
  auto* compare_command = onnxquant::cli::add_compare_command(app, compare);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "[error] " << e.what() << " (run with --help for usage)\n";
    return static_cast<int>(ExitCode::kUsageError);
  }

  const std::shared_ptr<onnxquant::cli::StatusLineSink> status_line = configure_logging(verbosity, quiet);
  const bool block_format = quantize.precision == "int4" || quantize.format == "matmulnbits";
  if (*quantize_command && !block_format && (block_size->count() > 0 || accuracy_level->count() > 0)) {
    spdlog::error("--block-size and --accuracy-level apply to -p int4 and to --format matmulnbits only");
    return static_cast<int>(ExitCode::kUsageError);
  }
  if (*quantize_command) {
    const bool integer_run = quantize.precision == "int8" || quantize.precision == "int4";
    const bool float_run = quantize.precision == "fp16" || quantize.precision == "bf16";
    const std::vector<std::pair<const CLI::Option*, bool>> applicable = {
        {fp16_io, float_run},
        {keep_fp32_op, float_run},
        {keep_fp32_node, float_run},
        {quantize_embeddings, integer_run},
        {scale_search, integer_run},
        {sensitive_fraction, quantize.mixed == "sensitive"},
        {calibration_method, !quantize.options.calibration_data.empty()},
        {calibration_percentile, quantize.calibration_method == "percentile"},
    };
    for (const auto& [option, allowed] : applicable) {
      if (option->count() > 0 && !allowed) {
        spdlog::error("{} does not apply to -p {}{}", option->get_name(), quantize.precision,
                      option == sensitive_fraction       ? " without --mixed sensitive"
                      : option == calibration_method     ? " without --calibration-data"
                      : option == calibration_percentile ? " without --calibration-method percentile"
                                                         : "");
        return static_cast<int>(ExitCode::kUsageError);
      }
    }
  }
  try {
    if (*inspect_command) return run_inspect(inspect);
    if (*check_command) return run_check(check_model);
    if (*compare_command) return onnxquant::cli::run_compare(compare);
    if (*run_command) return onnxquant::cli::run_model(run);
    return run_quantize(quantize, quiet ? nullptr : status_line);
  } catch (const onnxquant::Error& error) {
    spdlog::error("{}", error.what());
    return static_cast<int>(error.code());
  } catch (const std::exception& error) {
    spdlog::error("internal error: {}", error.what());
    return static_cast<int>(ExitCode::kInternalError);
  }
}
