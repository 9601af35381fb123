#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "onnxquant/errors.hpp"
#include "onnxquant/evaluation.hpp"

namespace onnxquant {
namespace {

OutputEvaluation logits_output() {
  OutputEvaluation output;
  output.name = "logits";
  output.logits = true;
  output.elements = 20;
  output.compared_elements = 20;
  output.max_abs_error = 0.5;
  output.cosine_similarity = 0.995;
  output.top1_agreement = 0.9;
  output.kl_divergence = 0.02;
  return output;
}

OutputEvaluation hidden_output() {
  OutputEvaluation output;
  output.name = "hidden";
  output.elements = 8;
  output.compared_elements = 8;
  output.max_abs_error = 0.1;
  output.cosine_similarity = 0.98;
  return output;
}

TEST(Gates, NoGatesNoViolations) {
  EXPECT_TRUE(check_gates({logits_output(), hidden_output()}, {}).empty());
}

TEST(Gates, EachGateOnEveryOutputItMeasures) {
  AccuracyGates gates;
  gates.min_cosine = 0.99;
  const auto violations = check_gates({logits_output(), hidden_output()}, gates);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].gate, "--min-cosine");
  EXPECT_EQ(violations[0].output, "hidden");
  EXPECT_EQ(violations[0].value, 0.98);
  EXPECT_EQ(violations[0].limit, 0.99);
  EXPECT_EQ(describe_violation(violations[0]),
            "accuracy gate --min-cosine failed on output 'hidden': cosine similarity 0.98 is below the limit 0.99");
}

TEST(Gates, LimitsAreInclusive) {
  AccuracyGates gates;
  gates.max_kl = 0.02;
  gates.min_top1 = 0.9;
  gates.max_abs_error = 0.5;
  gates.min_cosine = 0.98;
  EXPECT_TRUE(check_gates({logits_output(), hidden_output()}, gates).empty());
}

TEST(Gates, LogitGatesSkipOtherOutputs) {
  AccuracyGates gates;
  gates.max_kl = 0.01;
  gates.min_top1 = 0.95;
  const auto violations = check_gates({logits_output(), hidden_output()}, gates);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].gate, "--max-kl");
  EXPECT_EQ(violations[0].output, "logits");
  EXPECT_EQ(violations[1].gate, "--min-top1");
  EXPECT_NE(describe_violation(violations[0]).find("is above the limit 0.01"), std::string::npos);
}

TEST(Gates, LogitGateWithoutLogitsFails) {
  AccuracyGates gates;
  gates.min_top1 = 0.5;
  const auto violations = check_gates({hidden_output()}, gates);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_TRUE(violations[0].output.empty());
  EXPECT_NE(describe_violation(violations[0]).find("no output is logits"), std::string::npos);
}

TEST(Gates, UndefinedFigureFails) {
  OutputEvaluation output = hidden_output();
  output.cosine_similarity = std::numeric_limits<double>::quiet_NaN();
  output.max_abs_error = std::numeric_limits<double>::infinity();
  AccuracyGates gates;
  gates.min_cosine = -1.0;
  gates.max_abs_error = 1.0e30;
  const auto violations = check_gates({output}, gates);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_NE(describe_violation(violations[0]).find("undefined"), std::string::npos);
  EXPECT_NE(describe_violation(violations[1]).find("inf is above"), std::string::npos);
}

TEST(Gates, EmptyComparisonFailsEveryGate) {
  OutputEvaluation output = logits_output();
  output.compared_elements = 0;
  output.max_abs_error = std::numeric_limits<double>::quiet_NaN();
  output.cosine_similarity = std::numeric_limits<double>::quiet_NaN();
  output.top1_agreement = std::numeric_limits<double>::quiet_NaN();
  output.kl_divergence = std::numeric_limits<double>::quiet_NaN();
  AccuracyGates gates;
  gates.max_kl = 0.0;
  gates.min_cosine = 1.0;
  gates.max_abs_error = 0.0;
  gates.min_top1 = 1.0;
  const auto violations = check_gates({output}, gates);
  ASSERT_EQ(violations.size(), 4u);
  for (const GateViolation& violation : violations) {
    EXPECT_EQ(violation.output, "logits");
    EXPECT_TRUE(violation.empty_comparison);
  }
  EXPECT_EQ(describe_violation(violations[1]),
            "accuracy gate --min-cosine 1 failed: output 'logits' has no finite elements to compare, so --min-cosine "
            "cannot be checked; give inputs for which the output has elements that are finite in both models");
}

TEST(Gates, NonFiniteMismatchIsNotEmpty) {
  OutputEvaluation output = hidden_output();
  output.compared_elements = 0;
  output.nonfinite_mismatches = 8;
  output.cosine_similarity = std::numeric_limits<double>::quiet_NaN();
  AccuracyGates gates;
  gates.min_cosine = 0.0;
  const auto violations = check_gates({output}, gates);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_FALSE(violations[0].empty_comparison);
  EXPECT_NE(describe_violation(violations[0]).find("NaN or infinite values that differ"), std::string::npos);
}

TEST(EvaluationOptions, RangesChecked) {
  const auto rejects = [](auto change) {
    EvaluationOptions options;
    change(options);
    EXPECT_THROW(validate_evaluation_options(options), UsageError);
  };
  rejects([](EvaluationOptions& o) { o.gates.min_cosine = 1.5; });
  rejects([](EvaluationOptions& o) { o.gates.min_top1 = -0.1; });
  rejects([](EvaluationOptions& o) { o.gates.max_kl = -1.0; });
  rejects([](EvaluationOptions& o) { o.gates.max_abs_error = std::numeric_limits<double>::quiet_NaN(); });
  rejects([](EvaluationOptions& o) { o.samples = 0; });
  rejects([](EvaluationOptions& o) { o.samples = kMaxSamples + 1; });
  rejects([](EvaluationOptions& o) { o.dims["seq"] = -1; });
  rejects([](EvaluationOptions& o) { o.vocab_size = -5; });
  rejects([](EvaluationOptions& o) { o.threads = -1; });
  rejects([](EvaluationOptions& o) {
    o.input_files = {"x=a.npy"};
    o.seed = 1;
  });
  rejects([](EvaluationOptions& o) {
    o.input_files = {"x=a.npy"};
    o.dims["seq"] = 4;
  });

  EvaluationOptions valid;
  valid.samples = 3;
  valid.seed = 9;
  valid.gates.min_cosine = -1.0;
  valid.gates.min_top1 = 1.0;
  valid.gates.max_kl = 0.0;
  EXPECT_NO_THROW(validate_evaluation_options(valid));
}

TEST(EvaluationOptions, MessagesNameTheOptionsGiven) {
  EvaluationOptions options;
  options.inputs_option = "--eval-inputs";
  options.samples_option = "--eval-samples";
  options.input_files = {"x=a.npy"};
  options.samples = 2;
  try {
    validate_evaluation_options(options);
    FAIL() << "samples together with input files were accepted";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()),
              "--eval-samples, --seed and --dim apply to generated inputs only; they cannot be combined with "
              "--eval-inputs");
  }
}

}  // namespace
}  // namespace onnxquant
