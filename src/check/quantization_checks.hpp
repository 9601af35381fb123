// Checks of the quantization parameters of DequantizeLinear and MatMulNBits nodes.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "check/scope_values.hpp"
#include "io/tensor_store.hpp"

namespace onnxquant::check {

// Appends to `findings` what is wrong with `node` when it is a DequantizeLinear (ai.onnx) or
// MatMulNBits (com.microsoft) node whose parameters are constants. `where` names the node's scope.
// Scales in external files are read from `store`.
void check_quantization_node(const onnx::NodeProto& node, const ScopeValues& scope, const io::TensorStore& store,
                             const std::string& where, std::vector<std::string>& findings);

}  // namespace onnxquant::check
