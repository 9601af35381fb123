#include "passes/pass_context.hpp"

namespace onnxquant::passes {

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
