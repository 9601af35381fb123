// Runs the ONNX backend node tests (model.onnx with test_data_set_*/input_*.pb and output_*.pb)
// through the reference evaluator and compares the outputs with the expected ones.
//
// Every test of an operator the evaluator claims must pass, or the evaluator must reject it with an
// error ("unsupported"). A wrong output or any other error is a failure.
// Tests of unclaimed operators are not run. Tests whose names end in "_expanded" (the operator's
// function body written with other operators) are counted separately.
//
// Usage: onnx_node_tests NODE_TEST_FOLDER [--markdown PAGE.md] [--verbose] [--filter TEXT]
// --markdown replaces the coverage section of PAGE.md, between its coverage markers.
// Exit code 0 when no claimed test fails, 1 otherwise, 77 when the folder does not exist.
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "eval/element_types.hpp"
#include "eval/kernel.hpp"
#include "eval/session.hpp"
#include "io/tensor_data.hpp"
#include "kernels/float16.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"

namespace fs = std::filesystem;
using onnxquant::eval::Tensor;

namespace {

// The default tolerances of ONNX's node tests (onnx 1.19.1, onnx/backend/test/case/node/__init__.py).
constexpr double kRelativeTolerance = 1e-3;
constexpr double kAbsoluteTolerance = 1e-7;
constexpr int kSkipExitCode = 77;

enum class Outcome { kPass, kUnsupported, kDeviation, kFail };
constexpr size_t kOutcomes = 4;
constexpr const char* kOutcomeNames[kOutcomes] = {"pass", "unsupported", "deviation", "FAIL"};

// Tests whose expected outputs differ from ONNX Runtime 1.23.2, the oracle of this project, where
// the evaluator follows ONNX Runtime. They count as "deviations", with the reason listed in
// docs/evaluator.md. tests/python/test_evaluator.py checks that the evaluator agrees with ONNX
// Runtime on these tests.
const std::map<std::string, std::string> kKnownDeviations = {
    {"test_resize_downsample_scales_linear_align_corners",
     "with scales, the ONNX reference maps align_corners coordinates through the unrounded output length "
     "(input length * scale); ONNX Runtime and the evaluator use the output length"},
    {"test_resize_downsample_scales_cubic_align_corners",
     "with scales, the ONNX reference maps align_corners coordinates through the unrounded output length "
     "(input length * scale); ONNX Runtime and the evaluator use the output length"},
};

// Test counts by outcome, for the tests of the operator itself and for its "_expanded" tests.
struct Counts {
  std::array<int, kOutcomes> direct{};
  std::array<int, kOutcomes> expanded{};

  int& at(bool is_expanded, Outcome outcome) { return (is_expanded ? expanded : direct)[static_cast<size_t>(outcome)]; }
  int get(bool is_expanded, Outcome outcome) const {
    return (is_expanded ? expanded : direct)[static_cast<size_t>(outcome)];
  }
};

struct TestResult {
  Outcome outcome = Outcome::kPass;
  std::string detail;
};

Tensor read_tensor_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  onnx::TensorProto proto;
  if (!proto.ParseFromString(buffer.str())) throw std::runtime_error("cannot parse " + path.string());
  return onnxquant::eval::tensor_from_proto(proto);
}

// The bfloat16 test files of onnx 1.12 store their values as uint16 tensors, because its numpy
// helper had no bfloat16. The bits are bfloat16 values, so they are relabeled where bfloat16 is
// expected.
void relabel_bfloat16(Tensor& tensor, int32_t expected_dtype) {
  if (tensor.dtype == onnx::TensorProto::UINT16 && expected_dtype == onnx::TensorProto::BFLOAT16) {
    tensor.dtype = onnx::TensorProto::BFLOAT16;
  }
}

// onnx 1.12 made the expected outputs of its float to bfloat16 Cast tests by truncating the low 16
// bits. The Cast specification and ONNX Runtime round to nearest even, as the evaluator does, so the
// expected values are recomputed from the float input with that rounding.
void round_expected_bfloat16(const Tensor& input, Tensor& expected) {
  if (input.dtype != onnx::TensorProto::FLOAT || input.shape != expected.shape) return;
  const auto from = input.values<float>();
  const auto to = expected.values<uint16_t>();
  for (size_t i = 0; i < from.size(); ++i) to[i] = onnxquant::kernels::float_to_bfloat16(from[i]);
}

std::vector<fs::path> numbered_files(const fs::path& folder, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    const fs::path path = folder / fmt::format("{}_{}.pb", prefix, i);
    if (!fs::exists(path)) break;
    files.push_back(path);
  }
  return files;
}

double element_as_double(const Tensor& tensor, size_t index) {
  return onnxquant::eval::visit_dtype<onnxquant::eval::TypeSet::kAll>(tensor.dtype, "output", [&](auto tag) {
    using T = decltype(tag);
    return static_cast<double>(onnxquant::eval::load(tensor.values<T>()[index]));
  });
}

// Returns an empty string when `actual` matches `expected`, else the first difference.
std::string compare(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype != expected.dtype) {
    return fmt::format("element type {} instead of {}", onnxquant::eval::dtype_name(actual.dtype),
                       onnxquant::eval::dtype_name(expected.dtype));
  }
  if (actual.shape != expected.shape) {
    return fmt::format("shape {} instead of {}", onnxquant::io::format_shape(actual.shape),
                       onnxquant::io::format_shape(expected.shape));
  }
  const bool is_float = onnxquant::io::is_float_type(expected.dtype);
  const size_t count = expected.element_count();
  for (size_t i = 0; i < count; ++i) {
    const double a = element_as_double(actual, i);
    const double e = element_as_double(expected, i);
    if (is_float) {
      if (std::isnan(e) && std::isnan(a)) continue;
      if (std::isinf(e) && a == e) continue;
      if (std::abs(a - e) <= kAbsoluteTolerance + kRelativeTolerance * std::abs(e)) continue;
    } else if (a == e) {
      continue;
    }
    return fmt::format("element {} is {} instead of {}", i, a, e);
  }
  return "";
}

TestResult run_test(const fs::path& folder) {
  onnxquant::Model model;
  try {
    model = onnxquant::load_model(folder / "model.onnx");
  } catch (const onnxquant::Error& error) {
    return {Outcome::kUnsupported, fmt::format("load: {}", error.what())};
  }
  // Some onnx 1.12 test models declare input shapes that their data sets do not have: the CastLike
  // bfloat16 tests declare 'like' as [3, 4] and feed [1]. The operator tests ignore declared shapes.
  for (auto& input : *model.proto.mutable_graph()->mutable_input()) {
    input.mutable_type()->mutable_tensor_type()->clear_shape();
  }
  std::unique_ptr<onnxquant::eval::Session> session;
  try {
    session = std::make_unique<onnxquant::eval::Session>(model.proto, onnxquant::eval::SessionOptions{1});
  } catch (const onnxquant::ModelError& error) {
    return {Outcome::kUnsupported, error.what()};
  }

  std::vector<fs::path> data_sets;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      data_sets.push_back(entry.path());
    }
  }
  std::sort(data_sets.begin(), data_sets.end());
  for (const auto& data_set : data_sets) {
    // Input files follow the order of the graph inputs that have no initializer.
    const auto input_files = numbered_files(data_set, "input");
    const auto& inputs = session->inputs();
    if (input_files.size() != inputs.size()) {
      return {Outcome::kFail, fmt::format("{} input files for {} inputs", input_files.size(), inputs.size())};
    }
    std::map<std::string, Tensor> feeds;
    try {
      for (size_t i = 0; i < inputs.size(); ++i) {
        Tensor feed = read_tensor_file(input_files[i]);
        relabel_bfloat16(feed, inputs[i].dtype);
        feeds[inputs[i].name] = std::move(feed);
      }
    } catch (const std::exception& error) {
      return {Outcome::kUnsupported, fmt::format("input data: {}", error.what())};
    }

    std::map<std::string, Tensor> results;
    try {
      results = session->run(feeds);
    } catch (const onnxquant::eval::NotSupported& error) {
      return {Outcome::kUnsupported, error.what()};
    } catch (const std::exception& error) {
      return {Outcome::kFail, fmt::format("run: {}", error.what())};
    }

    const auto output_files = numbered_files(data_set, "output");
    const auto& outputs = session->outputs();
    for (size_t i = 0; i < output_files.size() && i < outputs.size(); ++i) {
      Tensor expected;
      try {
        expected = read_tensor_file(output_files[i]);
      } catch (const std::exception& error) {
        return {Outcome::kUnsupported, fmt::format("output data: {}", error.what())};
      }
      const Tensor& actual = results.at(outputs[i].name);
      relabel_bfloat16(expected, actual.dtype);
      if (expected.dtype == onnx::TensorProto::BFLOAT16 && feeds.count("input") > 0) {
        round_expected_bfloat16(feeds.at("input"), expected);
      }
      const std::string difference = compare(actual, expected);
      if (!difference.empty()) {
        return {Outcome::kFail, fmt::format("{} output {}: {}", data_set.filename().string(), outputs[i].name, difference)};
      }
    }
  }
  return {Outcome::kPass, ""};
}

// The operator a test exercises: the type of its only node, or "" for multi-node graphs.
std::string tested_operator(const fs::path& folder) {
  onnx::ModelProto model;
  std::ifstream file(folder / "model.onnx", std::ios::binary);
  if (!model.ParseFromIstream(&file) || model.graph().node_size() != 1) return "";
  const auto& node = model.graph().node(0);
  if (!node.domain().empty() && node.domain() != "ai.onnx") return "";
  return node.op_type();
}

std::string counts_text(const Counts& counts, bool expanded) {
  return fmt::format("{} | {} | {} | {}", counts.get(expanded, Outcome::kPass), counts.get(expanded, Outcome::kUnsupported),
                     counts.get(expanded, Outcome::kDeviation), counts.get(expanded, Outcome::kFail));
}

std::string markdown_report(const std::map<std::string, Counts>& claimed, const std::set<std::string>& unclaimed,
                            const Counts& total) {
  std::string text =
      "## Operator coverage\n\n"
      "This section is generated: `build/tests/onnx_node_tests /usr/share/libonnx-testdata/data/node --markdown "
      "docs/evaluator.md` replaces it.\n\n"
      "The counts come from the ONNX backend node tests that Debian's `libonnx-testdata` 1.12 ships. Each test is one "
      "model with inputs and expected outputs. A test **passes** when every output matches within rtol 1e-3 and atol "
      "1e-7 (the tolerances of ONNX's backend test runner) and integer and bool outputs match exactly. It is "
      "**unsupported** when the evaluator rejects it with an error before or while running (an operator version, "
      "attribute value, input form or element type it does not implement). A **deviation** is a test whose expected "
      "output differs from ONNX Runtime 1.23.2, where the evaluator matches ONNX Runtime (listed below). It **fails** "
      "on any other wrong output or error. Tests ending in `_expanded` run the operator's function body, written "
      "with other operators, and are counted apart. Operators newer than these tests (counts of 0) are compared "
      "with ONNX Runtime on small graphs instead (`tests/python/operator_graphs.py`).\n\n";
  text += fmt::format("Totals over the claimed operators: {} pass, {} unsupported, {} deviation, {} fail; expanded "
                      "tests: {} pass, {} unsupported, {} deviation, {} fail.\n\n",
                      total.get(false, Outcome::kPass), total.get(false, Outcome::kUnsupported),
                      total.get(false, Outcome::kDeviation), total.get(false, Outcome::kFail),
                      total.get(true, Outcome::kPass), total.get(true, Outcome::kUnsupported),
                      total.get(true, Outcome::kDeviation), total.get(true, Outcome::kFail));
  text += "### Claimed ai.onnx operators\n\n"
          "| operator | pass | unsupported | deviation | fail | expanded: pass | unsupported | deviation | fail |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& [name, counts] : claimed) {
    text += fmt::format("| {} | {} | {} |\n", name, counts_text(counts, false), counts_text(counts, true));
  }
  text += "\n### Deviations\n\n";
  for (const auto& [test, reason] : kKnownDeviations) text += fmt::format("- `{}`: {}.\n", test, reason);
  text += "\n### Claimed com.microsoft operators\n\nThe ONNX tests do not cover these; `tests/python/test_evaluator.py` "
          "compares them with ONNX Runtime on small graphs (`tests/python/operator_graphs.py`) and on real and "
          "generated models.\n\n";
  for (const auto* spec : onnxquant::eval::operator_table().all()) {
    if (!spec->domain.empty()) text += fmt::format("- {}\n", spec->op_type);
  }
  text += "\n### Unclaimed ai.onnx operators\n\nThe evaluator rejects models with these operators before running.\n\n";
  const std::vector<std::string> names(unclaimed.begin(), unclaimed.end());
  text += fmt::format("{}\n", fmt::join(names, ", "));
  return text;
}

// Replaces the text between kBeginMarker and kEndMarker in the file with `section`, keeping the
// rest of the page, which is written by hand.
bool write_markdown(const fs::path& path, const std::string& section) {
  constexpr std::string_view kBeginMarker = "<!-- coverage:begin -->\n";
  constexpr std::string_view kEndMarker = "<!-- coverage:end -->";
  std::ifstream input(path);
  std::stringstream buffer;
  buffer << input.rdbuf();
  const std::string page = buffer.str();
  const size_t begin = page.find(kBeginMarker);
  const size_t end = page.find(kEndMarker);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    std::cerr << path << " has no coverage markers (" << kBeginMarker.substr(0, kBeginMarker.size() - 1) << " and "
              << kEndMarker << ")\n";
    return false;
  }
  const std::string updated = page.substr(0, begin + kBeginMarker.size()) + section + page.substr(end);
  std::ofstream(path) << updated;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: onnx_node_tests NODE_TEST_FOLDER [--markdown PAGE.md] [--verbose] [--filter TEXT]\n";
    return 2;
  }
  const fs::path root = argv[1];
  std::string markdown_path;
  std::string filter;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--markdown" && i + 1 < argc) {
      markdown_path = argv[++i];
    } else if (argument == "--filter" && i + 1 < argc) {
      filter = argv[++i];
    } else if (argument == "--verbose") {
      verbose = true;
    } else {
      std::cerr << "unknown argument " << argument << "\n";
      return 2;
    }
  }
  if (!fs::is_directory(root)) {
    std::cerr << "node test folder " << root << " not found; install the Debian package libonnx-testdata\n";
    return kSkipExitCode;
  }

  std::vector<fs::path> tests;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory() && fs::exists(entry.path() / "model.onnx")) tests.push_back(entry.path());
  }
  std::sort(tests.begin(), tests.end());

  const auto& table = onnxquant::eval::operator_table();
  std::map<std::string, Counts> claimed;
  std::set<std::string> unclaimed;
  for (const auto name : onnxquant::eval::onnx_operator_names()) {
    if (table.find("", std::string(name)) != nullptr) {
      claimed[std::string(name)];
    } else {
      unclaimed.insert(std::string(name));
    }
  }

  Counts total;
  for (const auto& folder : tests) {
    const std::string name = folder.filename().string();
    if (!filter.empty() && name.find(filter) == std::string::npos) continue;
    const std::string suffix = "_expanded";
    const bool expanded = name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    const std::string base_name = expanded ? name.substr(0, name.size() - suffix.size()) : name;
    const std::string op = tested_operator(root / base_name);
    if (op.empty() || claimed.count(op) == 0) continue;

    TestResult result = run_test(folder);
    const auto deviation = kKnownDeviations.find(base_name);
    if (result.outcome == Outcome::kFail && deviation != kKnownDeviations.end()) {
      result = {Outcome::kDeviation, fmt::format("{} ({})", result.detail, deviation->second)};
    }
    ++claimed[op].at(expanded, result.outcome);
    ++total.at(expanded, result.outcome);
    if (result.outcome == Outcome::kFail || verbose) {
      std::cout << kOutcomeNames[static_cast<size_t>(result.outcome)] << " " << name
                << (result.detail.empty() ? "" : ": " + result.detail) << "\n";
    }
  }

  std::cout << fmt::format("claimed operators: {}; tests: {} pass, {} unsupported, {} deviation, {} fail; expanded "
                           "tests: {} pass, {} unsupported, {} deviation, {} fail\n",
                           claimed.size(), total.get(false, Outcome::kPass), total.get(false, Outcome::kUnsupported),
                           total.get(false, Outcome::kDeviation), total.get(false, Outcome::kFail),
                           total.get(true, Outcome::kPass), total.get(true, Outcome::kUnsupported),
                           total.get(true, Outcome::kDeviation), total.get(true, Outcome::kFail));
  if (!markdown_path.empty() && !write_markdown(markdown_path, markdown_report(claimed, unclaimed, total))) return 2;
  return total.get(false, Outcome::kFail) + total.get(true, Outcome::kFail) == 0 ? 0 : 1;
}
