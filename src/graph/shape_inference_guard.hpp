// Screening of models that crash the shape inference of the linked ONNX library.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

// Returns false, with the reason in `reason`, when ONNX shape inference must not run on `model`.
// libonnx 1.12 reads past the input's dimensions, and crashes, when a Conv or ConvTranspose input
// has a lower rank than its weight (found by fuzzing, in convPoolShapeInference).
bool safe_for_shape_inference(const onnx::ModelProto& model, std::string& reason);

}  // namespace onnxquant::graph
