// -p fp32: restores a float32 model from float16, bfloat16 and quantized ones.
#pragma once

#include <onnx/onnx_pb.h>

#include "io/tensor_store.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant::passes {

// Folds DequantizeLinear on constant data (int8, uint8, int4, uint4) and com.microsoft MatMulNBits
// back into float32 initializers read by plain operators, then upcasts every float16 and bfloat16
// tensor and value to float32 and removes the Casts that become float32-to-float32. Data in the
// input's external files is read from `store`; restored tensors move to the output's external data
// as they are made when `store` writes it.
void restore_float32(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options, Report& report);

}  // namespace onnxquant::passes
