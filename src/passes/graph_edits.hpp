// Graph changes collected while passes run and applied in one step at the end, so that the node
// and tensor pointers the passes hold stay valid until then.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graph/weights.hpp"
#include "io/tensor_store.hpp"

namespace onnxquant::passes {

class GraphEdits {
 public:
  // With a store that writes the output's external data, added initializers move there at once,
  // so their data does not stay in memory until the model is saved.
  explicit GraphEdits(io::TensorStore* store = nullptr) : store_(store) {}

  // Removes the initializer or Constant node that defines the weight, and its graph input entry.
  void remove_definition(const graph::Weight& weight);
  void add_initializer(onnx::GraphProto& graph, onnx::TensorProto tensor);
  // Adds a node at the start of the graph; its inputs must be initializers of the same graph.
  void prepend_node(onnx::GraphProto& graph, onnx::NodeProto node);
  void remove_node(onnx::GraphProto& graph, const onnx::NodeProto& node);
  // Adds a node right before `anchor`, a node of `graph`. Nodes added before one anchor keep the
  // order of the calls.
  void insert_before(onnx::GraphProto& graph, const onnx::NodeProto& anchor, onnx::NodeProto node);
  // Drops value_info entries of a name that no longer exists after the edits.
  void forget_value(onnx::GraphProto& graph, const std::string& name);

  void apply();

 private:
  struct Changes {
    std::set<const onnx::TensorProto*> removed_initializers;
    std::set<const onnx::NodeProto*> removed_nodes;
    std::set<std::string> removed_inputs;
    std::set<std::string> forgotten_values;
    std::vector<onnx::TensorProto> added_initializers;
    std::vector<onnx::NodeProto> prepended_nodes;
    std::map<const onnx::NodeProto*, std::vector<onnx::NodeProto>> inserted_nodes;
  };

  io::TensorStore* store_;
  std::map<onnx::GraphProto*, Changes> changes_;
};

}  // namespace onnxquant::passes
