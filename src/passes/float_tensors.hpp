// Conversion of float32 tensor data to float16 or bfloat16, with its error measured.
#pragma once

#include <cstdint>

#include <onnx/onnx_pb.h>

#include "io/tensor_store.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant::passes {

// Replaces the data of a float32 tensor, inline or in a file of `store`, with `target` (FLOAT16 or
// BFLOAT16) data and fills the error fields of `entry`. Values beyond the target range saturate to
// its largest finite value. The tensor is read and converted in runs on `threads` threads. When
// `output` has an output file and the tensor was external, each run is appended to that file,
// unless the converted tensor is smaller than kExternalDataThresholdBytes. Otherwise the data goes
// to raw_data.
void convert_tensor_data(onnx::TensorProto& tensor, int32_t target, TensorReport& entry, const io::TensorStore& store,
                         io::TensorStore* output, int threads);

}  // namespace onnxquant::passes
