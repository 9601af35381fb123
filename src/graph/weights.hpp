// Constant tensors of a model and the nodes that consume them, across all graph scopes.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

struct WeightUse {
  onnx::GraphProto* graph;  // the graph that contains the consuming node
  onnx::NodeProto* node;
  int input_index;
};

// A tensor defined by an initializer or a Constant node.
struct Weight {
  std::string name;
  std::string scope;        // "main" or the path of the subgraph that defines it
  onnx::GraphProto* graph;  // the graph that defines it
  onnx::TensorProto* tensor;
  onnx::NodeProto* constant_node = nullptr;  // set when a Constant node defines it
  bool is_graph_input = false;               // an initializer also listed as a graph input
  std::vector<WeightUse> uses = {};
  // Returned directly as an output of some graph, so its float value must stay available.
  bool is_graph_output = false;
};

// Indexes every constant tensor and its uses. Names are resolved by scope. A subgraph resolves a
// name in its own values first and then in those of the graphs that enclose it. Throws ModelError when a node
// input names a value that no scope defines.
std::vector<Weight> index_weights(onnx::ModelProto& model);

}  // namespace onnxquant::graph
