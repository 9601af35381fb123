#include "passes/mixed_policy.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <set>
#include <spdlog/spdlog.h>

#include "io/tensor_data.hpp"
#include "kernels/block_quantization.hpp"
#include "kernels/error_metrics.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {
namespace {

// Nodes between a MatMul and a graph output that still count as "reaching" it (bias, reshape,
// softcapping and the like), searched to this depth.
constexpr int kOutputSearchDepth = 3;

bool is_weight_operator(const std::string& op) { return op == "MatMul" || op == "Gemm" || op == "Conv"; }

class OutputReach {
 public:
  explicit OutputReach(const onnx::GraphProto& graph) {
    for (const auto& output : graph.output()) outputs_.insert(output.name());
    for (const auto& node : graph.node()) {
      for (const auto& input : node.input()) consumers_[input].push_back(&node);
    }
  }

  bool reaches_output(const std::string& value, int depth) const {
    if (outputs_.count(value) > 0) return true;
    if (depth == 0) return false;
    auto it = consumers_.find(value);
    if (it == consumers_.end()) return false;
    for (const auto* node : it->second) {
      if (is_weight_operator(node->op_type())) continue;
      for (const auto& output : node->output()) {
        if (reaches_output(output, depth - 1)) return true;
      }
    }
    return false;
  }

 private:
  std::set<std::string> outputs_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
};

double int4_sqnr(const graph::Weight& weight, const io::TensorStore& store, const QuantizeOptions& options) {
  const std::vector<float> values = io::read_float_values(*weight.tensor, store);
  const auto scale_type = weight.tensor->data_type() == onnx::TensorProto::FLOAT16 ? kernels::ScaleType::kFloat16
                                                                                   : kernels::ScaleType::kFloat32;
  const int threads = kernel_threads(options);
  const auto quantized = kernels::quantize_blockwise_int4(values, weight.tensor->dims(0), weight.tensor->dims(1),
                                                          options.block_size, !options.asymmetric, scale_type,
                                                          searches_scales(options), threads);
  return quantized.error.sqnr_db;
}

}  // namespace

void apply_sensitive_policy(onnx::ModelProto& model, const io::TensorStore& store, std::vector<Candidate>& candidates,
                            const QuantizeOptions& options, Report& report) {
  const OutputReach reach(model.graph());
  struct Scored {
    Candidate* candidate;
    double sqnr_db;
    uint64_t elements;
  };
  std::vector<Scored> eligible;
  uint64_t total_elements = 0;
  int projections = 0;
  for (auto& candidate : candidates) {
    if (candidate.plan != WeightPlan::kInt4 || !candidate.precision_source.empty()) continue;
    const uint64_t elements = io::element_count(*candidate.weight->tensor);
    total_elements += elements;
    const bool output_projection = std::any_of(candidate.weight->uses.begin(), candidate.weight->uses.end(),
                                               [&](const auto& use) {
                                                 return use.graph == model.mutable_graph() &&
                                                        reach.reaches_output(use.node->output(0), kOutputSearchDepth);
                                               });
    if (output_projection) {
      ++projections;
      candidate.plan = WeightPlan::kInt8;
      candidate.precision_source = "mixed policy: output projection";
      continue;
    }
    eligible.push_back({&candidate, int4_sqnr(*candidate.weight, store, options), elements});
  }

  std::sort(eligible.begin(), eligible.end(), [](const Scored& a, const Scored& b) { return a.sqnr_db < b.sqnr_db; });
  const auto budget = static_cast<uint64_t>(options.sensitive_fraction * static_cast<double>(total_elements));
  uint64_t moved = 0;
  int count = 0;
  for (const auto& scored : eligible) {
    if (moved + scored.elements > budget) break;
    scored.candidate->plan = WeightPlan::kInt8;
    scored.candidate->precision_source = fmt::format("mixed policy: INT4 SQNR {:.1f} dB, among the lowest", scored.sqnr_db);
    moved += scored.elements;
    ++count;
  }
  report.notes.push_back(fmt::format(
      "mixed policy: {} output projection(s) and {} weight(s) with the lowest INT4 SQNR ({:.1f}% of the INT4 "
      "candidates' elements that no --override set) use INT8",
      projections, count, 100.0 * static_cast<double>(moved) / std::max<uint64_t>(total_elements, 1)));
  spdlog::info("{}", report.notes.back());
}

}  // namespace onnxquant::passes
