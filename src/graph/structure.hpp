// Structural validation of a loaded model: subgraph depth, value definitions and cycles.
#pragma once

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

// Deepest subgraph nesting accepted: the main graph is level 0, an If branch or a Loop or Scan
// body of a node in it is level 1, and so on. Real models nest a few levels. The limit bounds the
// recursion of every walk over the graphs.
inline constexpr int kMaxSubgraphDepth = 64;

// Validates the graphs of a model and throws ModelError on the first problem:
// - subgraphs nested deeper than kMaxSubgraphDepth;
// - a value defined twice in one graph: a repeated graph input or initializer, or a node output that
//   is also a graph input, an initializer or another node's output;
// - a node input or graph output that no enclosing scope defines;
// - nodes that depend on each other in a cycle.
// Nodes out of topological order without a cycle are accepted, because ONNX Runtime sorts them and
// exporters write such models.
void validate_structure(const onnx::ModelProto& model);

}  // namespace onnxquant::graph
