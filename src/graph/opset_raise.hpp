// Raising a model to ai.onnx opset 21, the first opset whose DequantizeLinear takes int4 data and
// a block_size. libonnx 1.12's version converter stops at opset 17, so the steps from 17 to 21
// are done here from a table of the operators whose definitions changed in opsets 18 to 21.
#pragma once

#include <cstdint>
#include <string>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

inline constexpr int64_t kOpsetBlockedDequantize = 21;
// ONNX 1.16 introduced opset 21 together with IR version 10, which defines the int4 and uint4 types.
inline constexpr int64_t kIrVersionInt4 = 10;

// Converts the model to ai.onnx opset 21 and IR version 10 or later. Below opset 17 the ONNX
// version converter runs first. From 17 on:
//   - Reduce* operators other than ReduceSum get their `axes` attribute as an int64 input (opset 18);
//   - Split without a `split` input gets `num_outputs` (opset 18 requires one of the two);
//   - GridSample (changed in opset 20), DFT (opset 20) and GroupNormalization (opset 21) changed
//     meaning, so a model that contains them from an older opset is rejected;
//   - the other operators changed in opsets 18 to 21 only gained types, attributes or inputs whose
//     defaults keep the old behavior, and their nodes stay as they are.
// Returns false and sets `error` when the model cannot be converted; the model is unchanged then.
bool raise_opset_to_21(onnx::ModelProto& model, std::string& error);

}  // namespace onnxquant::graph
