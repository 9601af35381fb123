#include "passes/graph_edits.hpp"

namespace onnxquant::passes {

void GraphEdits::remove_definition(const graph::Weight& weight) {
  Changes& changes = changes_[weight.graph];
  if (weight.constant_node != nullptr) {
    changes.removed_nodes.insert(weight.constant_node);
  } else {
    changes.removed_initializers.insert(weight.tensor);
  }
  if (weight.is_graph_input) changes.removed_inputs.insert(weight.name);
}

void GraphEdits::remove_node(onnx::GraphProto& graph, const onnx::NodeProto& node) {
  changes_[&graph].removed_nodes.insert(&node);
}

void GraphEdits::add_initializer(onnx::GraphProto& graph, onnx::TensorProto tensor) {
  if (store_ != nullptr) store_->move_to_output(tensor);
  changes_[&graph].added_initializers.push_back(std::move(tensor));
}

void GraphEdits::prepend_node(onnx::GraphProto& graph, onnx::NodeProto node) {
  changes_[&graph].prepended_nodes.push_back(std::move(node));
}

void GraphEdits::insert_before(onnx::GraphProto& graph, const onnx::NodeProto& anchor, onnx::NodeProto node) {
  changes_[&graph].inserted_nodes[&anchor].push_back(std::move(node));
}

void GraphEdits::forget_value(onnx::GraphProto& graph, const std::string& name) {
  changes_[&graph].forgotten_values.insert(name);
}

namespace {

template <typename Message, typename Keep>
void filter_repeated(google::protobuf::RepeatedPtrField<Message>& field, Keep keep) {
  google::protobuf::RepeatedPtrField<Message> remaining;
  for (auto& element : field) {
    if (keep(element)) remaining.Add()->Swap(&element);
  }
  field.Swap(&remaining);
}

}  // namespace

void GraphEdits::apply() {
  // Not a structured binding: clang 14 cannot capture those in the lambdas below.
  for (auto& entry : changes_) {
    auto* graph = entry.first;
    auto& changes = entry.second;
    filter_repeated(*graph->mutable_initializer(), [&](const onnx::TensorProto& tensor) {
      return changes.removed_initializers.count(&tensor) == 0;
    });
    for (auto& tensor : changes.added_initializers) graph->add_initializer()->Swap(&tensor);

    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (auto& node : changes.prepended_nodes) nodes.Add()->Swap(&node);
    for (auto& node : *graph->mutable_node()) {
      if (auto inserted = changes.inserted_nodes.find(&node); inserted != changes.inserted_nodes.end()) {
        for (auto& added : inserted->second) nodes.Add()->Swap(&added);
      }
      if (changes.removed_nodes.count(&node) == 0) nodes.Add()->Swap(&node);
    }
    graph->mutable_node()->Swap(&nodes);

    filter_repeated(*graph->mutable_input(), [&](const onnx::ValueInfoProto& value) {
      return changes.removed_inputs.count(value.name()) == 0;
    });
    filter_repeated(*graph->mutable_value_info(), [&](const onnx::ValueInfoProto& value) {
      return changes.forgotten_values.count(value.name()) == 0;
    });
  }
  changes_.clear();
}

}  // namespace onnxquant::passes
