#include "passes/fp16_storage.hpp"

#include "passes/float_tensors.hpp"

namespace onnxquant::passes {

void store_weight_float16(const Candidate& candidate, PassContext& context) {
  const graph::Weight& weight = *candidate.weight;
  TensorReport entry = make_tensor_report(weight);
  onnx::TensorProto stored = *weight.tensor;
  convert_tensor_data(stored, onnx::TensorProto::FLOAT16, entry, context.store, nullptr,
                      kernel_threads(context.options));
  stored.set_name(context.names.allocate(weight.name + "_float16"));

  onnx::NodeProto cast =
      make_node("Cast", "", context.names.allocate(weight.name + "_Cast"), {stored.name()}, {weight.name});
  set_int_attribute(cast, "to", onnx::TensorProto::FLOAT);
  context.edits.remove_definition(weight);
  context.edits.add_initializer(*weight.graph, std::move(stored));
  context.edits.prepend_node(*weight.graph, std::move(cast));
  context.report.tensors.push_back(std::move(entry));
  release_float_data(weight);
}

}  // namespace onnxquant::passes
