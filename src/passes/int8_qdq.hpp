// INT8 weight-only quantization in QDQ form: an int8 (or uint8) initializer feeding a
// DequantizeLinear whose output takes the name of the float weight.
#pragma once

#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

// ai.onnx opset versions that DequantizeLinear needs: 10 per-tensor, 13 with the axis attribute.
inline constexpr int64_t kMinOpsetDequantizeLinear = 10;
inline constexpr int64_t kMinOpsetPerChannel = 13;

struct Int8Settings {
  bool per_channel = false;
  bool asymmetric = false;
};

// The output-channel axis of the weight for one use: MatMul B [.., K, N] 1 (the last axis),
// Gemm B by transB, Conv W 0, ConvTranspose W 1.
int64_t output_channel_axis(const graph::WeightUse& use, int64_t rank);

void quantize_weight_int8(const Candidate& candidate, const Int8Settings& settings, PassContext& context);

}  // namespace onnxquant::passes
