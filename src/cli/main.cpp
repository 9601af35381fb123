// The onnxquant command line: `inspect` and `quantize`.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "onnxquant/check.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/inspect.hpp"
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
  bool no_table = false;
  onnxquant::QuantizeOptions options;
};

int run_inspect(const InspectArguments& arguments) {
  onnxquant::LoadOptions load;
  load.load_external_data = false;
  onnxquant::Model model = onnxquant::load_model(arguments.model, load);
  std::cout << (arguments.json ? onnxquant::inspect_json(model) : onnxquant::inspect_text(model));
  return 0;
}

int run_quantize(QuantizeArguments& arguments) {
  static const std::map<std::string, onnxquant::Precision> kPrecisions = {
      {"int8", onnxquant::Precision::kInt8},
      {"int4", onnxquant::Precision::kInt4},
      {"fp16", onnxquant::Precision::kFp16},
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

  const onnxquant::Report report = onnxquant::quantize_file(arguments.model, arguments.output, options);
  if (!arguments.report.empty()) {
    onnxquant::write_report_json(report, arguments.report);
    spdlog::info("report written to {}", arguments.report);
  }
  if (!arguments.no_table) std::cout << onnxquant::format_report_table(report);
  return 0;
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

void configure_logging(int verbosity, bool quiet) {
  auto logger = spdlog::stderr_color_mt("onnxquant");
  logger->set_pattern("%^[%l]%$ %v");
  spdlog::set_default_logger(logger);
  if (quiet) {
    spdlog::set_level(spdlog::level::warn);
  } else {
    spdlog::set_level(verbosity > 0 ? spdlog::level::debug : spdlog::level::info);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"onnxquant: quantize ONNX models and report what it cost in accuracy"};
  app.set_version_flag("--version", std::string("onnxquant ") + onnxquant::kVersion);
  app.require_subcommand(1);
  int verbosity = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbosity, "Log details at debug level");
  app.add_flag("-q,--quiet", quiet, "Log warnings and errors only");

  InspectArguments inspect;
  auto* inspect_command = app.add_subcommand("inspect", "Describe a model: opsets, operators, inputs, outputs, weights");
  inspect_command->add_option("model", inspect.model, "Path of the .onnx model")->required();
  inspect_command->add_flag("--json", inspect.json, "Print JSON instead of text");

  std::string check_model;
  auto* check_command = app.add_subcommand("check", "Check a model's names, order and quantization parameters");
  check_command->add_option("model", check_model, "Path of the .onnx model")->required();

  QuantizeArguments quantize;
  auto* quantize_command = app.add_subcommand("quantize", "Quantize the weights of a model");
  quantize_command->add_option("model", quantize.model, "Path of the input .onnx model")->required();
  quantize_command->add_option("-o,--output", quantize.output, "Path of the output .onnx model")->required();
  quantize_command->add_option("-p,--precision", quantize.precision, "Target precision: int8, int4, fp16 or fp32")
      ->required()
      ->check(CLI::IsMember({"int8", "int4", "fp16", "fp32"}));
  quantize_command->add_option("--report", quantize.report, "Write the accuracy report as JSON to this file");
  quantize_command->add_flag("--per-channel", quantize.options.per_channel,
                             "INT8: one scale per output channel instead of one per tensor");
  quantize_command->add_flag("--asymmetric", quantize.options.asymmetric,
                             "Use unsigned codes with a zero point (uint8 for INT8, zero points for INT4)");
  quantize_command->add_option("--block-size", quantize.options.block_size,
                               "INT4: elements of K per scale, a power of two of at least 16")
      ->capture_default_str();
  quantize_command->add_option("--min-elements", quantize.options.min_elements,
                               "Weights with fewer elements stay float")
      ->capture_default_str();
  quantize_command->add_option("--exclude", quantize.options.exclude,
                               "Node or weight name to keep float; repeat for more");
  quantize_command->add_option("--accuracy-level", quantize.options.accuracy_level,
                               "INT4: MatMulNBits accuracy_level, 0 (runtime default) to 4 (int8 compute)")
      ->capture_default_str();
  quantize_command->add_option("--external-data", quantize.external_data,
                               "Store tensors in OUTPUT.data: auto (when the input did or above 2 GiB), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  quantize_command->add_flag("--no-table", quantize.no_table, "Do not print the report table");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(ExitCode::kUsageError);
  }

  configure_logging(verbosity, quiet);
  try {
    if (*inspect_command) return run_inspect(inspect);
    if (*check_command) return run_check(check_model);
    return run_quantize(quantize);
  } catch (const onnxquant::Error& error) {
    spdlog::error("{}", error.what());
    return static_cast<int>(error.code());
  } catch (const std::exception& error) {
    spdlog::error("internal error: {}", error.what());
    return static_cast<int>(ExitCode::kInternalError);
  }
}
