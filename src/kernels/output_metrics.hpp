// Agreement between a reference output and a candidate output of the same shape: element
// differences, and for class scores (logits) top-1 agreement and KL divergence. The accumulators
// take the values of several samples one after another, and every figure is computed in double
// over all the values they were given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace onnxquant::kernels {

// When no position has two finite values (compared_elements is 0) and none mismatches, every
// figure is NaN: an empty comparison measures nothing.
struct DifferenceMetrics {
  uint64_t elements = 0;
  // Positions where both values are finite: the ones that enter the figures below.
  uint64_t compared_elements = 0;
  double max_abs_error = 0.0;
  double mean_abs_error = 0.0;
  // ||reference - candidate||_2 / ||reference||_2; 0 when both are all zeros, +infinity when only the
  // reference is.
  double relative_l2_error = 0.0;
  // 1 when both are all zeros, 0 when exactly one of them is.
  double cosine_similarity = 1.0;
  // Positions where the reference or the candidate is NaN or infinite and the two differ. When
  // there is one, the errors above are +infinity and the cosine similarity is NaN.
  uint64_t nonfinite_mismatches = 0;
};

// Positions where both values are the same infinity, or both NaN, count as equal: they add no
// error and are left out of the sums of the L2 norms and the cosine similarity.
class DifferenceAccumulator {
 public:
  void add(std::span<const double> reference, std::span<const double> candidate);
  DifferenceMetrics result() const;

 private:
  uint64_t elements_ = 0;
  uint64_t compared_elements_ = 0;
  uint64_t nonfinite_mismatches_ = 0;
  double max_abs_error_ = 0.0;
  double abs_error_sum_ = 0.0;
  double squared_error_sum_ = 0.0;
  double reference_squares_ = 0.0;
  double candidate_squares_ = 0.0;
  double dot_ = 0.0;
};

// Every figure is NaN when there are no rows.
struct LogitMetrics {
  uint64_t rows = 0;
  // Share of rows whose largest candidate score is at the index of the largest reference score.
  double top1_agreement = 1.0;
  // KL(softmax(reference) || softmax(candidate)) in nats, the mean and the largest over rows.
  double kl_divergence_mean = 0.0;
  double kl_divergence_max = 0.0;
};

// Index of the largest value; the first one on ties. Returns values.size() when a value is NaN or
// the span is empty.
size_t argmax(std::span<const double> values);

// KL(softmax(p_logits) || softmax(q_logits)) in nats, with log-softmax computed in double. A score
// of -infinity is a probability of 0. Returns +infinity when q has probability 0 where p does not,
// and NaN when either row contains NaN or +infinity or has no finite score.
double kl_divergence(std::span<const double> p_logits, std::span<const double> q_logits);

// Rows are consecutive runs of `classes` values: the last axis of the output.
class LogitAccumulator {
 public:
  explicit LogitAccumulator(size_t classes) : classes_(classes) {}
  // The sizes must be equal and a multiple of the class count. A row where either side contains NaN
  // counts as a top-1 disagreement.
  void add(std::span<const double> reference, std::span<const double> candidate);
  LogitMetrics result() const;

 private:
  size_t classes_;
  uint64_t rows_ = 0;
  uint64_t top1_matches_ = 0;
  double kl_sum_ = 0.0;
  double kl_max_ = 0.0;
};

}  // namespace onnxquant::kernels
