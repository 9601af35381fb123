// Dependencies between the nodes of one graph: topological order and cycles.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

// Names that the subgraphs of `node` read from the scopes that enclose them: values that no
// graph between the reading node and `node` defines.
std::unordered_set<std::string> outer_values_read(const onnx::NodeProto& node);

// For each node of `graph`, the indices of the nodes of the same graph that produce the values it
// reads, counting the values its subgraphs read from outside. Values defined by enclosing graphs,
// graph inputs and initializers add no dependency.
std::vector<std::vector<int>> node_dependencies(const onnx::GraphProto& graph);

// Indices of the nodes of one cycle, in dependency order, or an empty list when the dependencies
// have no cycle. A node that reads its own output is a cycle of one node.
std::vector<int> find_cycle(const std::vector<std::vector<int>>& dependencies);

// Node indices in an order where every node comes after the nodes it depends on, preferring the
// lowest index among the ready nodes, so that nodes already in topological order keep their order.
// Returns an empty list when the dependencies have a cycle.
std::vector<int> topological_order(const std::vector<std::vector<int>>& dependencies);

struct OrderViolation {
  int reader = -1;    // the node that reads the value
  int producer = -1;  // the node at the same or a later position that produces it
};

// The first node that reads a value produced by itself or a later node, or {-1, -1} when the nodes
// are in topological order, as ONNX requires.
OrderViolation first_order_violation(const std::vector<std::vector<int>>& dependencies);

// "'name' (OpType)" or "an unnamed OpType node", for messages.
std::string describe_node(const onnx::NodeProto& node);

}  // namespace onnxquant::graph
