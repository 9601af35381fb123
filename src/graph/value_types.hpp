// Element types of the values of a model, from its declarations and ONNX type inference.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

// Maps a value name to its TensorProto element type. Names are unique across graph scopes in a
// valid model, so one map covers the main graph and every subgraph.
using ValueTypes = std::unordered_map<std::string, int32_t>;

// Collects declared types (inputs, outputs, value_info, initializers, Constant nodes) and the
// types that ONNX type inference adds. Outputs of operators that the linked ONNX library has no
// schema for (custom domains) take the type of the node's first float input when inference
// leaves them unknown.
// NOTE: that rule is a guess; an output of another type (an int32 mask, say) is then mistyped.
ValueTypes infer_value_types(const onnx::ModelProto& model);

// Returns the element type of `name`, or TensorProto::UNDEFINED when it is unknown.
int32_t type_of(const ValueTypes& types, const std::string& name);

}  // namespace onnxquant::graph
