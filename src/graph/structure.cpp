#include "graph/structure.hpp"

#include <fmt/format.h>
#include <string>
#include <unordered_set>
#include <vector>

#include "graph/node_order.hpp"
#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::graph {
namespace {

using io::quoted_name;

// Throws when a graph below `graph` is nested deeper than kMaxSubgraphDepth. Checked before any
// other walk, and the recursion stops at the limit.
void check_depth(const onnx::GraphProto& graph, int depth, const std::string& scope) {
  if (depth > kMaxSubgraphDepth) {
    throw ModelError(fmt::format("subgraphs are nested more than {} levels deep (at {}); onnxquant rejects deeper "
                                 "models",
                                 kMaxSubgraphDepth, scope));
  }
  for (const auto& node : graph.node()) {
    for (const auto& attribute : node.attribute()) {
      if (attribute.has_g()) check_depth(attribute.g(), depth + 1, scope + "/" + attribute.name());
      for (const auto& subgraph : attribute.graphs()) check_depth(subgraph, depth + 1, scope + "/" + attribute.name());
    }
  }
}

struct Scope {
  const Scope* parent = nullptr;
  std::string name;
  std::unordered_set<std::string> values;

  bool defines(const std::string& value) const {
    for (const Scope* scope = this; scope != nullptr; scope = scope->parent) {
      if (scope->values.count(value) > 0) return true;
    }
    return false;
  }
};

[[noreturn]] void throw_defined_twice(const Scope& scope, const std::string& value, const std::string& how) {
  throw ModelError(fmt::format("value {} is defined twice in {}: {}; ONNX requires one definition per value",
                               quoted_name(value), quoted_name(scope.name), how));
}

void define_values(const onnx::GraphProto& graph, Scope& scope) {
  for (const auto& input : graph.input()) {
    if (!scope.values.insert(input.name()).second) throw_defined_twice(scope, input.name(), "a repeated graph input");
  }
  std::unordered_set<std::string> initializers;
  for (const auto& tensor : graph.initializer()) {
    if (!initializers.insert(tensor.name()).second) throw_defined_twice(scope, tensor.name(), "a repeated initializer");
    scope.values.insert(tensor.name());  // an initializer may also be listed as a graph input
  }
  for (const auto& sparse : graph.sparse_initializer()) {
    if (!initializers.insert(sparse.values().name()).second) {
      throw_defined_twice(scope, sparse.values().name(), "a repeated initializer");
    }
    scope.values.insert(sparse.values().name());
  }
  for (const auto& node : graph.node()) {
    for (const auto& output : node.output()) {
      if (output.empty()) continue;
      if (!scope.values.insert(output).second) {
        throw_defined_twice(scope, output, fmt::format("{} outputs it, and a graph input, initializer or other node "
                                                       "output has the same name",
                                                       describe_node(node)));
      }
    }
  }
}

void check_reads(const onnx::GraphProto& graph, const Scope& scope) {
  for (const auto& node : graph.node()) {
    for (const auto& input : node.input()) {
      if (input.empty() || scope.defines(input)) continue;
      throw ModelError(fmt::format("{} in {} reads {}, which no node, initializer or graph input defines",
                                   describe_node(node), quoted_name(scope.name), quoted_name(input)));
    }
  }
  for (const auto& output : graph.output()) {
    if (scope.defines(output.name())) continue;
    throw ModelError(fmt::format("graph output {} of {} is not defined by any node, initializer or graph input",
                                 quoted_name(output.name()), quoted_name(scope.name)));
  }
}

void check_cycles(const onnx::GraphProto& graph, const Scope& scope) {
  const std::vector<int> cycle = find_cycle(node_dependencies(graph));
  if (cycle.empty()) return;
  std::vector<std::string> nodes;
  for (int index : cycle) nodes.push_back(describe_node(graph.node(index)));
  if (nodes.size() > 4) {
    nodes.resize(4);
    nodes.push_back(fmt::format("{} more", cycle.size() - 4));
  }
  throw ModelError(fmt::format("the nodes of {} depend on each other in a cycle: {}; a graph must be acyclic",
                               quoted_name(scope.name), fmt::join(nodes, " -> ")));
}

void validate_graph(const onnx::GraphProto& graph, const Scope& scope) {
  check_reads(graph, scope);
  for (const auto& node : graph.node()) {
    const std::string node_scope = scope.name + "/" + (node.name().empty() ? node.op_type() : node.name());
    for (const auto& attribute : node.attribute()) {
      auto visit = [&](const onnx::GraphProto& subgraph, const std::string& name) {
        Scope inner{&scope, name, {}};
        define_values(subgraph, inner);
        validate_graph(subgraph, inner);
      };
      if (attribute.has_g()) visit(attribute.g(), node_scope + "/" + attribute.name());
      for (int i = 0; i < attribute.graphs_size(); ++i) {
        visit(attribute.graphs(i), fmt::format("{}/{}[{}]", node_scope, attribute.name(), i));
      }
    }
  }
  check_cycles(graph, scope);
}

}  // namespace

void validate_structure(const onnx::ModelProto& model) {
  check_depth(model.graph(), 0, "main");
  Scope main{nullptr, "main", {}};
  define_values(model.graph(), main);
  validate_graph(model.graph(), main);
}

}  // namespace onnxquant::graph
