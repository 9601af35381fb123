#include "check/scope_values.hpp"

namespace onnxquant::check {
namespace {

// The tensor of a Constant node's `value` attribute, or nullptr.
const onnx::TensorProto* constant_tensor(const onnx::NodeProto& node) {
  if (node.op_type() != "Constant" || !(node.domain().empty() || node.domain() == "ai.onnx")) return nullptr;
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == "value" && attribute.has_t()) return &attribute.t();
  }
  return nullptr;
}

}  // namespace

ScopeValues::ScopeValues(const onnx::GraphProto& graph, const ScopeValues* parent) : parent_(parent) {
  auto declare = [&](const onnx::ValueInfoProto& value) {
    defined_[value.name()] = true;
    if (value.type().has_tensor_type() && value.type().tensor_type().has_shape()) {
      shapes_[value.name()] = &value.type().tensor_type().shape();
    }
  };
  for (const auto& value : graph.input()) declare(value);
  for (const auto& value : graph.value_info()) declare(value);
  for (const auto& value : graph.output()) shapes_.emplace(value.name(), nullptr);
  for (const auto& tensor : graph.initializer()) {
    constants_[tensor.name()] = &tensor;
    defined_[tensor.name()] = true;
  }
  for (const auto& node : graph.node()) {
    for (const auto& output : node.output()) defined_[output] = true;
    if (const auto* value = constant_tensor(node); value != nullptr && node.output_size() > 0) {
      constants_[node.output(0)] = value;
    }
  }
}

const onnx::TensorProto* ScopeValues::constant(const std::string& name) const {
  for (const ScopeValues* scope = this; scope != nullptr; scope = scope->parent_) {
    auto it = scope->constants_.find(name);
    if (it != scope->constants_.end()) return it->second;
    if (scope->defined_.count(name) > 0) return nullptr;
  }
  return nullptr;
}

const onnx::TensorShapeProto* ScopeValues::declared_shape(const std::string& name) const {
  for (const ScopeValues* scope = this; scope != nullptr; scope = scope->parent_) {
    auto it = scope->shapes_.find(name);
    if (it != scope->shapes_.end() && it->second != nullptr) return it->second;
  }
  return nullptr;
}

bool ScopeValues::defined_outside(const std::string& name) const {
  for (const ScopeValues* scope = parent_; scope != nullptr; scope = scope->parent_) {
    if (scope->defined_.count(name) > 0) return true;
  }
  return false;
}

}  // namespace onnxquant::check
