// INT4 weight-only quantization in QDQ form: the B [K, N] of a MatMul becomes an int4 (or uint4)
// initializer that feeds a blocked DequantizeLinear (ai.onnx opset 21) whose output takes the
// name of the float weight.
#pragma once

#include <onnx/onnx_pb.h>

#include "onnxquant/report.hpp"
#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

// Raises the model to ai.onnx opset 21. Returns false, with a warning in the log and the report,
// when that is impossible; the caller then writes MatMulNBits instead.
bool prepare_int4_qdq_opset(onnx::ModelProto& model, Report& report);

void quantize_weight_int4_qdq(const Candidate& candidate, PassContext& context);

}  // namespace onnxquant::passes
