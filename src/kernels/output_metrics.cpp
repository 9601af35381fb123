#include "kernels/output_metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "kernels/error_metrics.hpp"

namespace onnxquant::kernels {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Both NaN, or the same infinity.
bool same_nonfinite(double a, double b) { return (std::isnan(a) && std::isnan(b)) || (std::isinf(a) && a == b); }

// Returns log(sum(exp(logits))), computed from the largest score so that exp cannot overflow, or NaN
// when the row contains NaN or +infinity or has no finite score.
double log_sum_exp(std::span<const double> logits) {
  double max = -kInfinity;
  for (double value : logits) {
    if (std::isnan(value) || value == kInfinity) return kNaN;
    max = std::max(max, value);
  }
  if (max == -kInfinity) return kNaN;

  double sum = 0.0;
  for (double value : logits) sum += std::exp(value - max);
  return max + std::log(sum);
}

}  // namespace

void DifferenceAccumulator::add(std::span<const double> reference, std::span<const double> candidate) {
  assert(reference.size() == candidate.size());
  elements_ += reference.size();
  for (size_t i = 0; i < reference.size(); ++i) {
    const double a = reference[i];
    const double b = candidate[i];
    if (!std::isfinite(a) || !std::isfinite(b)) {
      if (!same_nonfinite(a, b)) ++nonfinite_mismatches_;
      continue;
    }
    ++compared_elements_;
    const double error = std::fabs(a - b);
    max_abs_error_ = std::max(max_abs_error_, error);
    abs_error_sum_ += error;
    squared_error_sum_ += error * error;
    reference_squares_ += a * a;
    candidate_squares_ += b * b;
    dot_ += a * b;
  }
}

DifferenceMetrics DifferenceAccumulator::result() const {
  DifferenceMetrics metrics;
  metrics.elements = elements_;
  metrics.compared_elements = compared_elements_;
  metrics.nonfinite_mismatches = nonfinite_mismatches_;
  if (nonfinite_mismatches_ == 0 && compared_elements_ == 0) {
    metrics.max_abs_error = kNaN;
    metrics.mean_abs_error = kNaN;
    metrics.relative_l2_error = kNaN;
    metrics.cosine_similarity = kNaN;
    return metrics;
  }
  if (nonfinite_mismatches_ > 0) {
    metrics.max_abs_error = kInfinity;
    metrics.mean_abs_error = kInfinity;
    metrics.relative_l2_error = kInfinity;
    metrics.cosine_similarity = kNaN;
    return metrics;
  }

  metrics.max_abs_error = max_abs_error_;
  metrics.mean_abs_error = abs_error_sum_ / static_cast<double>(elements_);
  if (reference_squares_ > 0.0) {
    metrics.relative_l2_error = std::sqrt(squared_error_sum_) / std::sqrt(reference_squares_);
  } else {
    metrics.relative_l2_error = squared_error_sum_ == 0.0 ? 0.0 : kInfinity;
  }
  metrics.cosine_similarity = cosine_from_sums(dot_, reference_squares_, candidate_squares_);
  return metrics;
}

size_t argmax(std::span<const double> values) {
  if (values.empty()) return 0;
  size_t best = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) return values.size();
    if (values[i] > values[best]) best = i;
  }
  return best;
}

double kl_divergence(std::span<const double> p_logits, std::span<const double> q_logits) {
  assert(p_logits.size() == q_logits.size());
  const double p_normalizer = log_sum_exp(p_logits);
  const double q_normalizer = log_sum_exp(q_logits);
  if (std::isnan(p_normalizer) || std::isnan(q_normalizer)) return kNaN;

  double divergence = 0.0;
  for (size_t i = 0; i < p_logits.size(); ++i) {
    const double log_p = p_logits[i] - p_normalizer;
    if (log_p == -kInfinity) continue;  // p_i = 0 adds nothing, whatever q_i is
    const double log_q = q_logits[i] - q_normalizer;
    if (log_q == -kInfinity) return kInfinity;
    divergence += std::exp(log_p) * (log_p - log_q);
  }
  // Rounding can leave a tiny negative sum for two nearly equal distributions; KL is never negative.
  return std::max(divergence, 0.0);
}

void LogitAccumulator::add(std::span<const double> reference, std::span<const double> candidate) {
  assert(reference.size() == candidate.size());
  assert(classes_ > 0);
  assert(reference.size() % classes_ == 0);
  for (size_t start = 0; start < reference.size(); start += classes_) {
    const auto reference_row = reference.subspan(start, classes_);
    const auto candidate_row = candidate.subspan(start, classes_);
    ++rows_;

    const size_t reference_top = argmax(reference_row);
    if (reference_top < classes_ && reference_top == argmax(candidate_row)) ++top1_matches_;

    const double kl = kl_divergence(reference_row, candidate_row);
    kl_sum_ += kl;
    // A NaN row makes the maximum NaN and keeps it NaN.
    if (!std::isnan(kl_max_) && !(kl <= kl_max_)) kl_max_ = kl;
  }
}

LogitMetrics LogitAccumulator::result() const {
  LogitMetrics metrics;
  metrics.rows = rows_;
  if (rows_ == 0) {
    metrics.top1_agreement = kNaN;
    metrics.kl_divergence_mean = kNaN;
    metrics.kl_divergence_max = kNaN;
    return metrics;
  }
  metrics.top1_agreement = static_cast<double>(top1_matches_) / static_cast<double>(rows_);
  metrics.kl_divergence_mean = kl_sum_ / static_cast<double>(rows_);
  metrics.kl_divergence_max = kl_max_;
  return metrics;
}

}  // namespace onnxquant::kernels
