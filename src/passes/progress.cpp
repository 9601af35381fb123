#include "passes/progress.hpp"

#include "io/tensor_data.hpp"

namespace onnxquant::passes {

ProgressCounter::ProgressCounter(const std::vector<Candidate>& candidates, ProgressCallback callback)
    : callback_(std::move(callback)) {
  // Sizes are taken now, because a pass replaces the tensor of the weight it quantizes.
  candidate_bytes_.reserve(candidates.size());
  for (const auto& candidate : candidates) {
    candidate_bytes_.push_back(io::tensor_bytes(*candidate.weight->tensor));
    progress_.bytes_total += candidate_bytes_.back();
  }
  progress_.tensors_total = candidates.size();
  if (callback_) callback_(progress_);
}

void ProgressCounter::finish(size_t index) {
  ++progress_.tensors_done;
  progress_.bytes_done += candidate_bytes_.at(index);
  if (callback_) callback_(progress_);
}

void report_all_done(const Report& report, const ProgressCallback& callback) {
  if (!callback) return;
  QuantizeProgress progress;
  for (const auto& entry : report.tensors) progress.bytes_total += entry.bytes_before;
  for (const auto& entry : report.skipped) progress.bytes_total += entry.bytes;
  progress.tensors_total = report.tensors.size() + report.skipped.size();
  progress.tensors_done = progress.tensors_total;
  progress.bytes_done = progress.bytes_total;
  callback(progress);
}

}  // namespace onnxquant::passes
