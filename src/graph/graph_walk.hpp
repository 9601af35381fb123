// Visiting the main graph and every subgraph (If branches, Loop and Scan bodies) of a model.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

// Calls visit(graph, scope) for `graph` and then for each nested subgraph, depth first. The scope
// names the path to a subgraph, for example "main/loop_node/body".
template <typename Visit>
void for_each_graph(onnx::GraphProto& graph, const std::string& scope, Visit&& visit) {
  visit(graph, scope);
  for (auto& node : *graph.mutable_node()) {
    const std::string node_scope = scope + "/" + (node.name().empty() ? node.op_type() : node.name());
    for (auto& attribute : *node.mutable_attribute()) {
      if (attribute.has_g()) for_each_graph(*attribute.mutable_g(), node_scope + "/" + attribute.name(), visit);
      for (int i = 0; i < attribute.graphs_size(); ++i) {
        const std::string indexed = node_scope + "/" + attribute.name() + "[" + std::to_string(i) + "]";
        for_each_graph(*attribute.mutable_graphs(i), indexed, visit);
      }
    }
  }
}

// The tensor of a Constant node's `value` attribute, or nullptr for other nodes and other forms.
inline onnx::TensorProto* constant_value(onnx::NodeProto& node) {
  if (node.op_type() != "Constant" || !(node.domain().empty() || node.domain() == "ai.onnx")) return nullptr;
  for (auto& attribute : *node.mutable_attribute()) {
    if (attribute.name() == "value" && attribute.has_t()) return attribute.mutable_t();
  }
  return nullptr;
}

// Calls visit(tensor) for every initializer and Constant-node tensor of every graph.
template <typename Visit>
void for_each_stored_tensor(onnx::GraphProto& main_graph, Visit&& visit) {
  for_each_graph(main_graph, "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (auto& tensor : *graph.mutable_initializer()) visit(tensor);
    for (auto& node : *graph.mutable_node()) {
      if (auto* tensor = constant_value(node)) visit(*tensor);
    }
  });
}

}  // namespace onnxquant::graph
