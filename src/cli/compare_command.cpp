#include "cli/compare_command.hpp"

#include <iostream>

#include "onnxquant/compare.hpp"

namespace onnxquant::cli {

CLI::App* add_compare_command(CLI::App& app, CompareArguments& arguments) {
  CLI::App* command = app.add_subcommand(
      "compare", "Run two models on the same inputs and measure how far the second one's outputs are from the first's");
  command->add_option("reference", arguments.reference, "Path of model A, the reference")->required();
  command->add_option("candidate", arguments.candidate, "Path of model B, the candidate, for example a quantized model")
      ->required();
  command->add_option("--report", arguments.report, "Write the figures as JSON to this file");
  command->add_flag("--no-table", arguments.no_table, "Do not print the table of figures");
  command->add_option("--threads", arguments.threads,
                      "Evaluator threads, counting the calling one; 0 for one per hardware thread")
      ->capture_default_str();
  add_evaluation_options(*command, arguments.evaluation, false);
  return command;
}

int run_compare(const CompareArguments& arguments) {
  CompareFileOptions options;
  options.evaluation = *evaluation_options(arguments.evaluation, false);
  options.evaluation.threads = arguments.threads;
  options.report_path = arguments.report;
  const EvaluationReport report = compare_files(arguments.reference, arguments.candidate, options);
  if (!arguments.no_table) std::cout << format_evaluation_table(report);
  return gate_exit_code(report);
}

}  // namespace onnxquant::cli
