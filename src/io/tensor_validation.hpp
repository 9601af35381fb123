// Checks that a tensor's dimensions and its stored data agree.
#pragma once

#include <onnx/onnx_pb.h>

namespace onnxquant::io {

// Throws ModelError, naming the tensor, when a dimension is negative, the product of the dimensions
// or the byte size overflows, or the stored data does not match the shape and type: raw_data of the
// wrong size, a typed field (float_data, int32_data, int64_data, ...) of the wrong length, data in
// a field that the type does not use, or data in both raw_data and a typed field. For a tensor whose
// data is still in an external file, only the shape and the external length entry are checked.
void validate_tensor(const onnx::TensorProto& tensor);

}  // namespace onnxquant::io
