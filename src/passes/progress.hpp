// Progress of the weight passes, counted for a ProgressCallback.
#pragma once

#include <cstdint>
#include <vector>

#include "onnxquant/quantize.hpp"
#include "passes/candidates.hpp"

namespace onnxquant::passes {

// Counts the candidates that the pass driver has handled, in any order.
class ProgressCounter {
 public:
  // Reports the totals of `candidates` with nothing done yet. An empty callback is never called.
  ProgressCounter(const std::vector<Candidate>& candidates, ProgressCallback callback);

  // Reports candidate `index` as handled, whether its pass quantized it or kept it float.
  void finish(size_t index);

 private:
  ProgressCallback callback_;
  std::vector<uint64_t> candidate_bytes_;
  QuantizeProgress progress_;
};

// Reports every tensor in `report`, quantized or kept float, as handled, for passes that convert
// all weights at once.
void report_all_done(const Report& report, const ProgressCallback& callback);

}  // namespace onnxquant::passes
