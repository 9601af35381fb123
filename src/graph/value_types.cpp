#include "graph/value_types.hpp"

#include <onnx/shape_inference/implementation.h>

#include "graph/graph_walk.hpp"
#include "io/tensor_data.hpp"

namespace onnxquant::graph {
namespace {

void record(ValueTypes& types, const onnx::ValueInfoProto& value) {
  if (value.type().has_tensor_type() && value.type().tensor_type().elem_type() != onnx::TensorProto::UNDEFINED) {
    types.emplace(value.name(), value.type().tensor_type().elem_type());
  }
}

void collect_declared(onnx::ModelProto& model, ValueTypes& types) {
  for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& value : graph.input()) record(types, value);
    for (const auto& value : graph.output()) record(types, value);
    for (const auto& value : graph.value_info()) record(types, value);
    for (const auto& tensor : graph.initializer()) types.emplace(tensor.name(), tensor.data_type());
    for (auto& node : *graph.mutable_node()) {
      if (const auto* tensor = constant_value(node)) types.emplace(node.output(0), tensor->data_type());
    }
  });
}

// Gives unknown outputs the type of the node's first float input, in graph order so that chains
// of custom operators are covered.
void guess_unknown_outputs(onnx::ModelProto& model, ValueTypes& types) {
  for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& node : graph.node()) {
      int32_t float_type = onnx::TensorProto::UNDEFINED;
      for (const auto& input : node.input()) {
        const int32_t type = type_of(types, input);
        if (io::is_float_type(type)) {
          float_type = type;
          break;
        }
      }
      if (float_type == onnx::TensorProto::UNDEFINED) continue;
      for (const auto& output : node.output()) {
        if (!output.empty()) types.emplace(output, float_type);
      }
    }
  });
}

// Copies the model without the data of large float tensors, which type inference does not read,
// so the copy costs little memory.
onnx::ModelProto copy_without_float_data(const onnx::ModelProto& model) {
  constexpr size_t kKeptBytes = 1024;
  auto& source = const_cast<onnx::ModelProto&>(model);
  std::vector<std::pair<onnx::TensorProto*, std::string>> stash;
  for_each_stored_tensor(*source.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (io::is_float_type(tensor.data_type()) && tensor.raw_data().size() > kKeptBytes) {
      stash.emplace_back(&tensor, std::string());
      tensor.mutable_raw_data()->swap(stash.back().second);
    }
  });
  onnx::ModelProto copy = source;
  for (auto& [tensor, data] : stash) tensor->mutable_raw_data()->swap(data);
  return copy;
}

}  // namespace

ValueTypes infer_value_types(const onnx::ModelProto& model) {
  onnx::ModelProto inferred = copy_without_float_data(model);
  try {
    // The default options record inference errors instead of throwing, so partial results remain.
    onnx::shape_inference::InferShapes(inferred);
  } catch (const std::exception&) {
    // Declared types are still collected below.
  }
  ValueTypes types;
  collect_declared(inferred, types);
  guess_unknown_outputs(inferred, types);
  return types;
}

int32_t type_of(const ValueTypes& types, const std::string& name) {
  auto it = types.find(name);
  return it == types.end() ? onnx::TensorProto::UNDEFINED : it->second;
}

}  // namespace onnxquant::graph
