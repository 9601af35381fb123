#include "passes/pass_context.hpp"

#include <algorithm>

namespace onnxquant::passes {

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

}  // namespace onnxquant::passes
