#include "graph/node_order.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <queue>
#include <unordered_map>

#include "io/quoted_name.hpp"

namespace onnxquant::graph {
namespace {

std::unordered_set<std::string> values_defined_in(const onnx::GraphProto& graph) {
  std::unordered_set<std::string> defined;
  for (const auto& value : graph.input()) defined.insert(value.name());
  for (const auto& tensor : graph.initializer()) defined.insert(tensor.name());
  for (const auto& sparse : graph.sparse_initializer()) defined.insert(sparse.values().name());
  for (const auto& node : graph.node()) {
    for (const auto& output : node.output()) defined.insert(output);
  }
  return defined;
}

// Adds to `read` the values that `graph` and its subgraphs read but `graph` does not define.
void collect_outer_reads(const onnx::GraphProto& graph, std::unordered_set<std::string>& read) {
  const std::unordered_set<std::string> defined = values_defined_in(graph);
  auto add = [&](const std::string& name) {
    if (!name.empty() && defined.count(name) == 0) read.insert(name);
  };
  for (const auto& node : graph.node()) {
    for (const auto& input : node.input()) add(input);
    for (const auto& name : outer_values_read(node)) add(name);
  }
  for (const auto& output : graph.output()) add(output.name());
}

// For each node, the nodes that read its outputs, and the number of nodes it depends on.
std::pair<std::vector<std::vector<int>>, std::vector<size_t>> count_readers(
    const std::vector<std::vector<int>>& dependencies) {
  const size_t count = dependencies.size();
  std::vector<std::vector<int>> readers(count);
  std::vector<size_t> pending(count);
  for (size_t i = 0; i < count; ++i) {
    pending[i] = dependencies[i].size();
    for (int producer : dependencies[i]) readers[static_cast<size_t>(producer)].push_back(static_cast<int>(i));
  }
  return {std::move(readers), std::move(pending)};
}

}  // namespace

std::unordered_set<std::string> outer_values_read(const onnx::NodeProto& node) {
  std::unordered_set<std::string> read;
  for (const auto& attribute : node.attribute()) {
    if (attribute.has_g()) collect_outer_reads(attribute.g(), read);
    for (const auto& subgraph : attribute.graphs()) collect_outer_reads(subgraph, read);
  }
  return read;
}

std::vector<std::vector<int>> node_dependencies(const onnx::GraphProto& graph) {
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto& output : graph.node(i).output()) {
      if (!output.empty()) producer.emplace(output, i);
    }
  }

  std::vector<std::vector<int>> dependencies(static_cast<size_t>(graph.node_size()));
  for (int i = 0; i < graph.node_size(); ++i) {
    auto& node_dependencies = dependencies[static_cast<size_t>(i)];
    auto add = [&](const std::string& name) {
      auto it = producer.find(name);
      if (it != producer.end()) node_dependencies.push_back(it->second);
    };
    for (const auto& input : graph.node(i).input()) add(input);
    for (const auto& name : outer_values_read(graph.node(i))) add(name);
    std::sort(node_dependencies.begin(), node_dependencies.end());
    node_dependencies.erase(std::unique(node_dependencies.begin(), node_dependencies.end()), node_dependencies.end());
  }
  return dependencies;
}

std::vector<int> find_cycle(const std::vector<std::vector<int>>& dependencies) {
  // Kahn's algorithm: a node is done once every node it depends on is done. The nodes left over
  // lie on a cycle or depend on one.
  const size_t count = dependencies.size();
  // Named variables rather than a structured binding: clang 14 cannot capture bindings in lambdas.
  auto counts = count_readers(dependencies);
  std::vector<std::vector<int>>& readers = counts.first;
  std::vector<size_t>& pending = counts.second;
  std::vector<int> ready;
  for (size_t i = 0; i < count; ++i) {
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  }
  while (!ready.empty()) {
    const int done = ready.back();
    ready.pop_back();
    for (int reader : readers[static_cast<size_t>(done)]) {
      if (--pending[static_cast<size_t>(reader)] == 0) ready.push_back(reader);
    }
  }

  // Every left-over node depends on another left-over node, so walking those dependencies from
  // any of them must revisit a node; the nodes from its first visit on form a cycle.
  auto left_over = [&](int node) { return pending[static_cast<size_t>(node)] > 0; };
  int start = -1;
  for (size_t i = 0; i < count && start < 0; ++i) {
    if (pending[i] > 0) start = static_cast<int>(i);
  }
  if (start < 0) return {};
  std::vector<int> path;
  std::vector<int> position(count, -1);
  int node = start;
  while (position[static_cast<size_t>(node)] < 0) {
    position[static_cast<size_t>(node)] = static_cast<int>(path.size());
    path.push_back(node);
    const auto& next = dependencies[static_cast<size_t>(node)];
    node = *std::find_if(next.begin(), next.end(), left_over);
  }
  std::vector<int> cycle(path.begin() + position[static_cast<size_t>(node)], path.end());
  std::reverse(cycle.begin(), cycle.end());
  return cycle;
}

std::vector<int> topological_order(const std::vector<std::vector<int>>& dependencies) {
  const size_t count = dependencies.size();
  // Named variables rather than a structured binding: clang 14 cannot capture bindings in lambdas.
  auto counts = count_readers(dependencies);
  std::vector<std::vector<int>>& readers = counts.first;
  std::vector<size_t>& pending = counts.second;
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (size_t i = 0; i < count; ++i) {
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  }
  std::vector<int> order;
  order.reserve(count);
  while (!ready.empty()) {
    const int node = ready.top();
    ready.pop();
    order.push_back(node);
    for (int reader : readers[static_cast<size_t>(node)]) {
      if (--pending[static_cast<size_t>(reader)] == 0) ready.push(reader);
    }
  }
  if (order.size() != count) return {};
  return order;
}

OrderViolation first_order_violation(const std::vector<std::vector<int>>& dependencies) {
  for (size_t i = 0; i < dependencies.size(); ++i) {
    for (int producer : dependencies[i]) {
      if (producer >= static_cast<int>(i)) return {static_cast<int>(i), producer};
    }
  }
  return {};
}

std::string describe_node(const onnx::NodeProto& node) {
  if (node.name().empty()) return fmt::format("an unnamed {} node", io::quoted_name(node.op_type()));
  return fmt::format("node {} ({})", io::quoted_name(node.name()), io::quoted_name(node.op_type()));
}

}  // namespace onnxquant::graph
