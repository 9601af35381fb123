#include "graph/names.hpp"

#include "graph/graph_walk.hpp"

namespace onnxquant::graph {

NameAllocator::NameAllocator(onnx::ModelProto& model) {
  for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& value : graph.input()) used_.insert(value.name());
    for (const auto& value : graph.output()) used_.insert(value.name());
    for (const auto& value : graph.value_info()) used_.insert(value.name());
    for (const auto& tensor : graph.initializer()) used_.insert(tensor.name());
    for (const auto& node : graph.node()) {
      used_.insert(node.name());
      for (const auto& name : node.input()) used_.insert(name);
      for (const auto& name : node.output()) used_.insert(name);
    }
  });
}

std::string NameAllocator::allocate(const std::string& base) {
  std::string candidate = base;
  for (int suffix = 2; used_.count(candidate) > 0; ++suffix) candidate = base + "_" + std::to_string(suffix);
  used_.insert(candidate);
  return candidate;
}

}  // namespace onnxquant::graph
