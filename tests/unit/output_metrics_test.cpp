#include "kernels/output_metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace onnxquant::kernels {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Sums run in double over a few values, so hand-computed expectations agree to rounding error.
constexpr double kTolerance = 1.0e-12;

DifferenceMetrics differences(const std::vector<double>& reference, const std::vector<double>& candidate) {
  DifferenceAccumulator accumulator;
  accumulator.add(reference, candidate);
  return accumulator.result();
}

TEST(DifferenceMetrics, HandComputedValues) {
  // a = {3, 4}, b = {3, 0}: errors {0, 4}, max 4, mean 2; ||a - b|| = 4, ||a|| = 5, relative L2 0.8;
  // cosine = 9 / (5 * 3) = 0.6.
  const auto metrics = differences({3.0, 4.0}, {3.0, 0.0});
  EXPECT_EQ(metrics.elements, 2u);
  EXPECT_EQ(metrics.max_abs_error, 4.0);
  EXPECT_EQ(metrics.mean_abs_error, 2.0);
  EXPECT_NEAR(metrics.relative_l2_error, 0.8, kTolerance);
  EXPECT_NEAR(metrics.cosine_similarity, 0.6, kTolerance);
  EXPECT_EQ(metrics.nonfinite_mismatches, 0u);
}

TEST(DifferenceMetrics, IdenticalOutputs) {
  const auto metrics = differences({1.5, -2.0, 0.0}, {1.5, -2.0, 0.0});
  EXPECT_EQ(metrics.max_abs_error, 0.0);
  EXPECT_EQ(metrics.mean_abs_error, 0.0);
  EXPECT_EQ(metrics.relative_l2_error, 0.0);
  EXPECT_NEAR(metrics.cosine_similarity, 1.0, kTolerance);
}

TEST(DifferenceMetrics, SamplesAccumulateAsOneVector) {
  // Two samples {1, 0} / {1, 1} and {0, 2} / {0, 2} are the vectors a = {1, 0, 0, 2} and
  // b = {1, 1, 0, 2}: max error 1, mean 1/4, relative L2 1 / sqrt(5), cosine 5 / (sqrt(5) sqrt(6)).
  DifferenceAccumulator accumulator;
  accumulator.add(std::vector<double>{1.0, 0.0}, std::vector<double>{1.0, 1.0});
  accumulator.add(std::vector<double>{0.0, 2.0}, std::vector<double>{0.0, 2.0});
  const auto metrics = accumulator.result();
  EXPECT_EQ(metrics.elements, 4u);
  EXPECT_EQ(metrics.max_abs_error, 1.0);
  EXPECT_EQ(metrics.mean_abs_error, 0.25);
  EXPECT_NEAR(metrics.relative_l2_error, 1.0 / std::sqrt(5.0), kTolerance);
  EXPECT_NEAR(metrics.cosine_similarity, 5.0 / (std::sqrt(5.0) * std::sqrt(6.0)), kTolerance);
}

TEST(DifferenceMetrics, ZeroReference) {
  const auto both_zero = differences({0.0, 0.0}, {0.0, 0.0});
  EXPECT_EQ(both_zero.relative_l2_error, 0.0);
  EXPECT_EQ(both_zero.cosine_similarity, 1.0);

  const auto reference_zero = differences({0.0, 0.0}, {1.0, 0.0});
  EXPECT_EQ(reference_zero.relative_l2_error, kInfinity);
  EXPECT_EQ(reference_zero.cosine_similarity, 0.0);
}

TEST(DifferenceMetrics, EqualNonFiniteValuesAgree) {
  // NaN against NaN and +inf against +inf count as equal and leave the finite figures alone.
  const auto metrics = differences({kNaN, kInfinity, 3.0, 4.0}, {kNaN, kInfinity, 3.0, 0.0});
  EXPECT_EQ(metrics.nonfinite_mismatches, 0u);
  EXPECT_EQ(metrics.elements, 4u);
  EXPECT_EQ(metrics.max_abs_error, 4.0);
  EXPECT_NEAR(metrics.cosine_similarity, 0.6, kTolerance);
}

TEST(DifferenceMetrics, DifferingNonFiniteValues) {
  const auto metrics = differences({1.0, kInfinity, 2.0}, {1.0, -kInfinity, kNaN});
  EXPECT_EQ(metrics.nonfinite_mismatches, 2u);
  EXPECT_EQ(metrics.max_abs_error, kInfinity);
  EXPECT_EQ(metrics.mean_abs_error, kInfinity);
  EXPECT_EQ(metrics.relative_l2_error, kInfinity);
  EXPECT_TRUE(std::isnan(metrics.cosine_similarity));
}

TEST(DifferenceMetrics, EmptyComparisonIsUndefined) {
  for (const auto& [reference, candidate] : {std::pair<std::vector<double>, std::vector<double>>{{}, {}},
                                             {{kNaN, kInfinity}, {kNaN, kInfinity}}}) {
    const auto metrics = differences(reference, candidate);
    EXPECT_EQ(metrics.elements, reference.size());
    EXPECT_EQ(metrics.compared_elements, 0u);
    EXPECT_EQ(metrics.nonfinite_mismatches, 0u);
    EXPECT_TRUE(std::isnan(metrics.max_abs_error));
    EXPECT_TRUE(std::isnan(metrics.mean_abs_error));
    EXPECT_TRUE(std::isnan(metrics.relative_l2_error));
    EXPECT_TRUE(std::isnan(metrics.cosine_similarity));
  }
}

TEST(DifferenceMetrics, ComparedElementsAreTheFiniteOnes) {
  const auto metrics = differences({kNaN, 1.0, 2.0, kInfinity}, {kNaN, 1.0, 2.5, kInfinity});
  EXPECT_EQ(metrics.elements, 4u);
  EXPECT_EQ(metrics.compared_elements, 2u);
}

TEST(Argmax, FirstMaximumOnTies) {
  EXPECT_EQ(argmax(std::vector<double>{1.0, 3.0, 3.0, 2.0}), 1u);
  EXPECT_EQ(argmax(std::vector<double>{-kInfinity, -5.0}), 1u);
  EXPECT_EQ(argmax(std::vector<double>{1.0, kNaN}), 2u);
}

TEST(KlDivergence, HandComputedTwoClasses) {
  // p = softmax(0, 0) = (1/2, 1/2); q = softmax(0, ln 3) = (1/4, 3/4).
  // KL(p || q) = 1/2 ln(2) + 1/2 ln(2/3) = 1/2 ln(4/3) = 0.14384103622589045.
  EXPECT_NEAR(kl_divergence(std::vector<double>{0.0, 0.0}, std::vector<double>{0.0, std::log(3.0)}),
              0.14384103622589045, kTolerance);
}

TEST(KlDivergence, HandComputedThreeClasses) {
  // p = softmax(ln 1, ln 2, ln 1) = (1/4, 1/2, 1/4); q = softmax(ln 1, ln 1, ln 2) = (1/4, 1/4, 1/2).
  // KL = 1/4 ln 1 + 1/2 ln 2 + 1/4 ln(1/2) = 1/4 ln 2 = 0.17328679513998632.
  const std::vector<double> p{0.0, std::log(2.0), 0.0};
  const std::vector<double> q{0.0, 0.0, std::log(2.0)};
  EXPECT_NEAR(kl_divergence(p, q), 0.17328679513998632, kTolerance);
}

TEST(KlDivergence, InvariantToAShiftOfTheLogits) {
  // Softmax ignores a constant added to every logit, so these describe the same distributions.
  const std::vector<double> p{0.0, std::log(2.0), 0.0};
  const std::vector<double> q{1000.0, 1000.0, 1000.0 + std::log(2.0)};
  EXPECT_NEAR(kl_divergence(p, q), 0.17328679513998632, 1.0e-9);
  EXPECT_EQ(kl_divergence(q, q), 0.0);
}

TEST(KlDivergence, NegativeInfinityLogits) {
  // p = (1, 0) puts no mass where q is 0; q = (1/2, 1/2): KL(p || q) = ln 2.
  EXPECT_NEAR(kl_divergence(std::vector<double>{0.0, -kInfinity}, std::vector<double>{0.0, 0.0}), std::log(2.0),
              kTolerance);
  // q = (1, 0) has no mass where p = 1/2 does.
  EXPECT_EQ(kl_divergence(std::vector<double>{0.0, 0.0}, std::vector<double>{0.0, -kInfinity}), kInfinity);
}

TEST(KlDivergence, UndefinedRows) {
  EXPECT_TRUE(std::isnan(kl_divergence(std::vector<double>{0.0, kNaN}, std::vector<double>{0.0, 0.0})));
  EXPECT_TRUE(std::isnan(kl_divergence(std::vector<double>{0.0, kInfinity}, std::vector<double>{0.0, 0.0})));
  EXPECT_TRUE(std::isnan(kl_divergence(std::vector<double>{-kInfinity, -kInfinity}, std::vector<double>{0.0, 0.0})));
}

TEST(LogitMetrics, TopOneAndMeanKlOverRows) {
  // Row 1: p = q = (1/2, 1/2), KL 0, top-1 index 0 in both (first maximum).
  // Row 2: p = softmax(0, ln 3) = (1/4, 3/4) picks 1; q = softmax(ln 3, 0) = (3/4, 1/4) picks 0.
  // KL = 1/4 ln(1/3) + 3/4 ln 3 = 1/2 ln 3 = 0.54930614433405489.
  LogitAccumulator accumulator(2);
  accumulator.add(std::vector<double>{0.0, 0.0, 0.0, std::log(3.0)},
                  std::vector<double>{0.0, 0.0, std::log(3.0), 0.0});
  const auto metrics = accumulator.result();
  EXPECT_EQ(metrics.rows, 2u);
  EXPECT_EQ(metrics.top1_agreement, 0.5);
  EXPECT_NEAR(metrics.kl_divergence_mean, 0.54930614433405489 / 2.0, kTolerance);
  EXPECT_NEAR(metrics.kl_divergence_max, 0.54930614433405489, kTolerance);
}

TEST(LogitMetrics, RowsAccumulateOverSamples) {
  LogitAccumulator accumulator(3);
  accumulator.add(std::vector<double>{1.0, 2.0, 3.0}, std::vector<double>{1.0, 2.0, 3.0});
  accumulator.add(std::vector<double>{3.0, 2.0, 1.0}, std::vector<double>{1.0, 2.0, 3.0});
  accumulator.add(std::vector<double>{0.0, 5.0, 1.0}, std::vector<double>{0.0, 4.0, 1.0});
  const auto metrics = accumulator.result();
  EXPECT_EQ(metrics.rows, 3u);
  EXPECT_NEAR(metrics.top1_agreement, 2.0 / 3.0, kTolerance);
}

TEST(LogitMetrics, NaNRowDisagreesAndMakesKlUndefined) {
  LogitAccumulator accumulator(2);
  accumulator.add(std::vector<double>{kNaN, 1.0, 0.0, 1.0}, std::vector<double>{kNaN, 1.0, 0.0, 1.0});
  const auto metrics = accumulator.result();
  EXPECT_EQ(metrics.top1_agreement, 0.5);
  EXPECT_TRUE(std::isnan(metrics.kl_divergence_mean));
  EXPECT_TRUE(std::isnan(metrics.kl_divergence_max));
}

TEST(LogitMetrics, NoRowsIsUndefined) {
  const auto metrics = LogitAccumulator(4).result();
  EXPECT_EQ(metrics.rows, 0u);
  EXPECT_TRUE(std::isnan(metrics.top1_agreement));
  EXPECT_TRUE(std::isnan(metrics.kl_divergence_mean));
  EXPECT_TRUE(std::isnan(metrics.kl_divergence_max));
}

}  // namespace
}  // namespace onnxquant::kernels
