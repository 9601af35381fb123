#include "graph/shape_inference_guard.hpp"

#include <fmt/format.h>
#include <unordered_map>

#include "graph/node_order.hpp"

namespace onnxquant::graph {
namespace {

using Ranks = std::unordered_map<std::string, int>;

void record_ranks(const onnx::GraphProto& graph, Ranks& ranks) {
  auto declare = [&](const onnx::ValueInfoProto& value) {
    if (value.type().has_tensor_type() && value.type().tensor_type().has_shape()) {
      ranks[value.name()] = value.type().tensor_type().shape().dim_size();
    }
  };
  for (const auto& value : graph.input()) declare(value);
  for (const auto& value : graph.value_info()) declare(value);
  for (const auto& value : graph.output()) declare(value);
  for (const auto& tensor : graph.initializer()) ranks[tensor.name()] = tensor.dims_size();
}

bool check_graph(const onnx::GraphProto& graph, Ranks ranks, std::string& reason) {
  record_ranks(graph, ranks);
  for (const auto& node : graph.node()) {
    const bool conv = node.op_type() == "Conv" || node.op_type() == "ConvTranspose";
    if (conv && node.input_size() >= 2) {
      auto input = ranks.find(node.input(0));
      auto weight = ranks.find(node.input(1));
      if (input != ranks.end() && weight != ranks.end() && input->second < weight->second) {
        reason = fmt::format("{} has an input of rank {} and a weight of rank {}", describe_node(node), input->second,
                             weight->second);
        return false;
      }
    }
    for (const auto& attribute : node.attribute()) {
      if (attribute.has_g() && !check_graph(attribute.g(), ranks, reason)) return false;
      for (const auto& subgraph : attribute.graphs()) {
        if (!check_graph(subgraph, ranks, reason)) return false;
      }
    }
  }
  return true;
}

}  // namespace

bool safe_for_shape_inference(const onnx::ModelProto& model, std::string& reason) {
  return check_graph(model.graph(), {}, reason);
}

}  // namespace onnxquant::graph
