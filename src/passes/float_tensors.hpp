// Conversion of float32 tensor data to float16 or bfloat16, with its error measured.
#pragma once

#include <cstdint>

#include <onnx/onnx_pb.h>

#include "io/tensor_store.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant::passes {

// Replaces the data of a float32 tensor, inline or in a file of `store`, with `target` (FLOAT16 or
// BFLOAT16) data in raw_data and fills the error fields of `entry`. Values beyond the target range
// saturate to its largest finite value. The conversion and the error metrics run on `threads` threads.
void convert_tensor_data(onnx::TensorProto& tensor, int32_t target, TensorReport& entry, const io::TensorStore& store,
                         int threads);

}  // namespace onnxquant::passes
