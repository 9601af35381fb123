#include "graph/weights.hpp"

#include <fmt/format.h>
#include <unordered_map>

#include "graph/graph_walk.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::graph {
namespace {

constexpr int kNotAWeight = -1;

// The values visible in one graph scope. A value maps to an index into the weight list, or to
// kNotAWeight for graph inputs and node outputs.
struct Scope {
  const Scope* parent = nullptr;
  std::unordered_map<std::string, int> values;

  const int* find(const std::string& name) const {
    for (const Scope* scope = this; scope != nullptr; scope = scope->parent) {
      auto it = scope->values.find(name);
      if (it != scope->values.end()) return &it->second;
    }
    return nullptr;
  }
};

class WeightIndexer {
 public:
  std::vector<Weight> run(onnx::GraphProto& main_graph) {
    visit(main_graph, "main", nullptr);
    return std::move(weights_);
  }

 private:
  void define_values(onnx::GraphProto& graph, const std::string& scope_name, Scope& scope) {
    for (const auto& input : graph.input()) scope.values[input.name()] = kNotAWeight;
    for (auto& tensor : *graph.mutable_initializer()) {
      Weight weight{tensor.name(), scope_name, &graph, &tensor};
      weight.is_graph_input = scope.values.count(tensor.name()) > 0;
      scope.values[tensor.name()] = static_cast<int>(weights_.size());
      weights_.push_back(std::move(weight));
    }
    for (auto& node : *graph.mutable_node()) {
      onnx::TensorProto* value = constant_value(node);
      for (const auto& output : node.output()) {
        if (output.empty()) continue;
        if (value != nullptr) {
          Weight weight{output, scope_name, &graph, value, &node};
          scope.values[output] = static_cast<int>(weights_.size());
          weights_.push_back(std::move(weight));
        } else {
          scope.values[output] = kNotAWeight;
        }
      }
    }
  }

  void visit(onnx::GraphProto& graph, const std::string& scope_name, const Scope* parent) {
    Scope scope;
    scope.parent = parent;
    define_values(graph, scope_name, scope);

    for (auto& node : *graph.mutable_node()) {
      for (int i = 0; i < node.input_size(); ++i) {
        const std::string& name = node.input(i);
        if (name.empty()) continue;  // an omitted optional input
        const int* entry = scope.find(name);
        if (entry == nullptr) {
          throw ModelError(fmt::format("node '{}' ({}) in {} reads '{}', which no node, initializer or graph input "
                                       "defines",
                                       node.name(), node.op_type(), scope_name, name));
        }
        if (*entry != kNotAWeight) weights_[*entry].uses.push_back({&graph, &node, i});
      }
      for (auto& attribute : *node.mutable_attribute()) {
        const std::string node_scope = scope_name + "/" + (node.name().empty() ? node.op_type() : node.name());
        if (attribute.has_g()) visit(*attribute.mutable_g(), node_scope + "/" + attribute.name(), &scope);
        for (int g = 0; g < attribute.graphs_size(); ++g) {
          visit(*attribute.mutable_graphs(g), fmt::format("{}/{}[{}]", node_scope, attribute.name(), g), &scope);
        }
      }
    }

    for (const auto& output : graph.output()) {
      const int* entry = scope.find(output.name());
      if (entry != nullptr && *entry != kNotAWeight) weights_[*entry].is_graph_output = true;
    }
  }

  std::vector<Weight> weights_;
};

}  // namespace

std::vector<Weight> index_weights(onnx::ModelProto& model) { return WeightIndexer().run(*model.mutable_graph()); }

}  // namespace onnxquant::graph
