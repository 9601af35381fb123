// Conversion of float32 tensor data to float16 or bfloat16, with its error measured.
#pragma once

#include <cstdint>

#include <onnx/onnx_pb.h>

#include "onnxquant/report.hpp"

namespace onnxquant::passes {

// Replaces the data of a float32 tensor with `target` (FLOAT16 or BFLOAT16) data and fills the
// error fields of `entry`. Values beyond the target range saturate to its largest finite value.
void convert_tensor_data(onnx::TensorProto& tensor, int32_t target, TensorReport& entry);

}  // namespace onnxquant::passes
