#include "passes/pass_context.hpp"

#include "passes/calibration.hpp"

#include <algorithm>

#include "kernels/parallel.hpp"

namespace onnxquant::passes {

int kernel_threads(const QuantizeOptions& options) { return kernels::resolve_thread_count(options.threads); }

void set_quantization_error(TensorReport& entry, const kernels::ErrorMetrics& error, const std::vector<float>& scales) {
  if (!scales.empty()) {
    const auto [scale_min, scale_max] = std::minmax_element(scales.begin(), scales.end());
    entry.scale_min = *scale_min;
    entry.scale_max = *scale_max;
  }
  entry.mse = error.mse;
  entry.max_abs_error = error.max_abs_error;
  entry.sqnr_db = error.sqnr_db;
  entry.cosine_similarity = error.cosine_similarity;
}

onnx::NodeProto make_node(const std::string& op_type, const std::string& domain, const std::string& name,
                          const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  onnx::NodeProto node;
  node.set_op_type(op_type);
  if (!domain.empty()) node.set_domain(domain);
  node.set_name(name);
  for (const auto& input : inputs) node.add_input(input);
  for (const auto& output : outputs) node.add_output(output);
  return node;
}

void set_int_attribute(onnx::NodeProto& node, const std::string& name, int64_t value) {
  for (auto& attribute : *node.mutable_attribute()) {
    if (attribute.name() == name) {
      attribute.set_type(onnx::AttributeProto::INT);
      attribute.set_i(value);
      return;
    }
  }
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}

std::vector<float> input_importance(const graph::Weight& weight, int64_t k, const PassContext& context) {
  if (context.calibration == nullptr) return {};
  std::vector<float> importance;
  for (const auto& use : weight.uses) {
    if (use.node->op_type() != "MatMul" || use.input_index != 1) continue;
    const std::vector<float> found = context.calibration->importance(use.node->input(0), k);
    if (found.empty()) return {};
    if (importance.empty()) importance.assign(found.size(), 0.0f);
    for (size_t i = 0; i < found.size(); ++i) importance[i] += found[i];
  }
  return importance;
}

}  // namespace onnxquant::passes
