// The `compare` subcommand: two models on the same inputs, their output figures and the gates.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/evaluation_options.hpp"

namespace onnxquant::cli {

struct CompareArguments {
  std::string reference;
  std::string candidate;
  std::string report;
  bool no_table = false;
  int threads = 0;
  EvaluationArguments evaluation;
};

// Adds the subcommand and its options to `app` and returns it.
CLI::App* add_compare_command(CLI::App& app, CompareArguments& arguments);

// Runs the comparison, prints the table and returns the exit code: 0, or kAccuracyGateFailed when
// a gate failed. Other failures throw onnxquant::Error.
int run_compare(const CompareArguments& arguments);

}  // namespace onnxquant::cli
