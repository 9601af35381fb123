// Visiting every TensorProto of a model: initializers, sparse initializers and node attributes
// (Constant values and any other tensor attribute), in every graph scope.
#pragma once

#include <onnx/onnx_pb.h>

#include "graph/graph_walk.hpp"

namespace onnxquant::graph {

// Calls visit(tensor) for the values and indices of a sparse tensor.
template <typename Visit>
void for_each_part(onnx::SparseTensorProto& sparse, Visit&& visit) {
  if (sparse.has_values()) visit(*sparse.mutable_values());
  if (sparse.has_indices()) visit(*sparse.mutable_indices());
}

// Calls visit(tensor) for each tensor that an attribute stores directly.
template <typename Visit>
void for_each_attribute_tensor(onnx::AttributeProto& attribute, Visit&& visit) {
  if (attribute.has_t()) visit(*attribute.mutable_t());
  for (auto& tensor : *attribute.mutable_tensors()) visit(tensor);
  if (attribute.has_sparse_tensor()) for_each_part(*attribute.mutable_sparse_tensor(), visit);
  for (auto& sparse : *attribute.mutable_sparse_tensors()) for_each_part(sparse, visit);
}

// Calls visit(tensor) for every TensorProto of every graph scope. Unlike for_each_stored_tensor,
// this includes sparse initializers and the tensor attributes of nodes other than Constant.
template <typename Visit>
void for_each_tensor(onnx::GraphProto& main_graph, Visit&& visit) {
  for_each_graph(main_graph, "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (auto& tensor : *graph.mutable_initializer()) visit(tensor);
    for (auto& sparse : *graph.mutable_sparse_initializer()) for_each_part(sparse, visit);
    for (auto& node : *graph.mutable_node()) {
      for (auto& attribute : *node.mutable_attribute()) for_each_attribute_tensor(attribute, visit);
    }
  });
}

}  // namespace onnxquant::graph
