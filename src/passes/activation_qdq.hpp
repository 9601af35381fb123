// Static INT8 activation quantization: QuantizeLinear/DequantizeLinear pairs on the activations
// that feed MatMul, Gemm and Conv nodes whose weight is already dequantized from INT8, with ranges
// from calibration, and int32 biases for Conv and Gemm where they fit.
#pragma once

#include <onnx/onnx_pb.h>

#include "graph/names.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"
#include "passes/calibration.hpp"

namespace onnxquant::passes {

// The observed range of one activation and the range the calibration method chooses for it.
ActivationReport describe_activation(const std::string& name, const ActivationData& data,
                                     const QuantizeOptions& options);

// Rewrites the main graph of `model`, whose weight edits must be applied. Activations are uint8
// asymmetric (scale and zero point per tensor). Fills report.activations and adds a note for each
// bias that stays float.
void quantize_activations(onnx::ModelProto& model, const Calibration& calibration, const QuantizeOptions& options,
                          graph::NameAllocator& names, Report& report);

}  // namespace onnxquant::passes
