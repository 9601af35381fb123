#include "kernels/error_metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace onnxquant::kernels {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// The metrics are accumulated in double, so hand-computed expectations agree to rounding error.
constexpr double kTolerance = 1.0e-12;

TEST(ErrorMetrics, ExactReconstruction) {
  const std::vector<float> original{1.5f, -2.0f, 0.0f, 3.25f};
  const auto metrics = measure_error(original, original);
  EXPECT_EQ(metrics.mse, 0.0);
  EXPECT_EQ(metrics.max_abs_error, 0.0);
  EXPECT_EQ(metrics.sqnr_db, kInfinity);
  EXPECT_NEAR(metrics.cosine_similarity, 1.0, kTolerance);
}

TEST(ErrorMetrics, HandComputedTwoElements) {
  // x = {3, 4}, x' = {3, 0}: noise = 16, signal = 25, MSE = 16 / 2 = 8, max error 4,
  // SQNR = 10 * log10(25 / 16) = 1.9382002601611283 dB, cosine = 9 / (5 * 3) = 0.6.
  const std::vector<float> original{3.0f, 4.0f};
  const std::vector<float> reconstructed{3.0f, 0.0f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_EQ(metrics.mse, 8.0);
  EXPECT_EQ(metrics.max_abs_error, 4.0);
  EXPECT_NEAR(metrics.sqnr_db, 1.9382002601611283, kTolerance);
  EXPECT_NEAR(metrics.cosine_similarity, 0.6, kTolerance);
}

TEST(ErrorMetrics, HandComputedFourElements) {
  // x = {1, 1, 1, 1}, x' = {1.5, 0.5, 1.5, 0.5}: every error is 0.5, so noise = 1, MSE = 0.25 and
  // max error 0.5. Signal = 4, SQNR = 10 * log10(4) = 6.0205999132796239 dB.
  // Cosine = 4 / (2 * sqrt(5)) = 0.89442719099991586.
  const std::vector<float> original{1.0f, 1.0f, 1.0f, 1.0f};
  const std::vector<float> reconstructed{1.5f, 0.5f, 1.5f, 0.5f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_EQ(metrics.mse, 0.25);
  EXPECT_EQ(metrics.max_abs_error, 0.5);
  EXPECT_NEAR(metrics.sqnr_db, 6.0205999132796239, kTolerance);
  EXPECT_NEAR(metrics.cosine_similarity, 0.89442719099991586, kTolerance);
}

TEST(ErrorMetrics, SignFlipNegativeSqnr) {
  // x = {1, -1}, x' = {-1, 1}: noise = 8, signal = 2, MSE = 4, SQNR = 10 * log10(1 / 4) =
  // -6.0205999132796239 dB, cosine = -2 / 2 = -1.
  const std::vector<float> original{1.0f, -1.0f};
  const std::vector<float> reconstructed{-1.0f, 1.0f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_EQ(metrics.mse, 4.0);
  EXPECT_EQ(metrics.max_abs_error, 2.0);
  EXPECT_NEAR(metrics.sqnr_db, -6.0205999132796239, kTolerance);
  EXPECT_NEAR(metrics.cosine_similarity, -1.0, kTolerance);
}

TEST(ErrorMetrics, BothZero) {
  // No noise: SQNR +inf. Both tensors are all zeros: cosine 1.
  const std::vector<float> zeros{0.0f, 0.0f, 0.0f};
  const auto metrics = measure_error(zeros, zeros);
  EXPECT_EQ(metrics.mse, 0.0);
  EXPECT_EQ(metrics.max_abs_error, 0.0);
  EXPECT_EQ(metrics.sqnr_db, kInfinity);
  EXPECT_EQ(metrics.cosine_similarity, 1.0);
}

TEST(ErrorMetrics, ZeroOriginalNonzeroReconstruction) {
  // Signal 0 with noise 1 + 4 = 5: SQNR -inf, MSE 5 / 2, cosine 0 because only one tensor is zero.
  const std::vector<float> original{0.0f, 0.0f};
  const std::vector<float> reconstructed{1.0f, -2.0f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_EQ(metrics.mse, 2.5);
  EXPECT_EQ(metrics.max_abs_error, 2.0);
  EXPECT_EQ(metrics.sqnr_db, -kInfinity);
  EXPECT_EQ(metrics.cosine_similarity, 0.0);
}

TEST(ErrorMetrics, ZeroReconstruction) {
  // Noise equals signal (1 + 4 = 5), so SQNR = 10 * log10(1) = 0 dB. Cosine is 0 because only one tensor is zero.
  const std::vector<float> original{1.0f, -2.0f};
  const std::vector<float> reconstructed{0.0f, 0.0f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_EQ(metrics.mse, 2.5);
  EXPECT_EQ(metrics.max_abs_error, 2.0);
  EXPECT_NEAR(metrics.sqnr_db, 0.0, kTolerance);
  EXPECT_EQ(metrics.cosine_similarity, 0.0);
}

TEST(ErrorMetrics, EmptyTensors) {
  // No elements: MSE 0, no noise so SQNR +inf, and both tensors count as all zeros.
  const std::vector<float> empty;
  const auto metrics = measure_error(empty, empty);
  EXPECT_EQ(metrics.mse, 0.0);
  EXPECT_EQ(metrics.max_abs_error, 0.0);
  EXPECT_EQ(metrics.sqnr_db, kInfinity);
  EXPECT_EQ(metrics.cosine_similarity, 1.0);
}

TEST(ErrorMetrics, CosineIgnoresScale) {
  // x' = 2x: cosine 1, noise = signal = 1 + 4 + 9 = 14, SQNR 0 dB, MSE 14 / 3.
  const std::vector<float> original{1.0f, 2.0f, 3.0f};
  const std::vector<float> reconstructed{2.0f, 4.0f, 6.0f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_NEAR(metrics.mse, 14.0 / 3.0, kTolerance);
  EXPECT_EQ(metrics.max_abs_error, 3.0);
  EXPECT_NEAR(metrics.sqnr_db, 0.0, kTolerance);
  EXPECT_NEAR(metrics.cosine_similarity, 1.0, kTolerance);
}

TEST(ErrorMetrics, MaxErrorUsesAbsoluteValue) {
  // Errors are {+0.25, -3, +1}, and the largest magnitude is 3 even though it is negative.
  const std::vector<float> original{1.0f, 2.0f, 3.0f};
  const std::vector<float> reconstructed{0.75f, 5.0f, 2.0f};
  const auto metrics = measure_error(original, reconstructed);
  EXPECT_EQ(metrics.max_abs_error, 3.0);
}

}  // namespace
}  // namespace onnxquant::kernels
