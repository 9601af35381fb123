// INT8 dynamic quantization, in the form ONNX Runtime's own dynamic quantization writes: each
// MatMul with a constant 2-D B [K, N] becomes
//   DynamicQuantizeLinear(A)                                  -> A_quantized (uint8), A_scale, A_zero_point
//   MatMulInteger(A_quantized, B_quantized, A_zero_point, B_zero_point) -> int32
//   Cast(to = FLOAT), then Mul by A_scale * B_scale           -> the MatMul's output
// B is int8 with zero point 0 (symmetric) or uint8 with a zero point (--asymmetric), per tensor or
// per column (--per-channel). MatMuls that read the same A share one DynamicQuantizeLinear.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "onnxquant/report.hpp"
#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

// ai.onnx opset versions: DynamicQuantizeLinear needs 11, MatMulInteger 10.
inline constexpr int64_t kMinOpsetDynamicQuantizeLinear = 11;

// Converts a model below opset 11 to opset 11. Throws ModelError when the converter fails.
void prepare_dynamic_opset(onnx::ModelProto& model, Report& report);

class DynamicInt8Pass {
 public:
  explicit DynamicInt8Pass(PassContext& context) : context_(context) {}

  // Quantizes the weight and records the MatMuls that read it; the nodes are added by finish().
  void quantize(const Candidate& candidate);

  // Adds the nodes of every recorded MatMul and removes the MatMul. Call it once, after quantize()
  // and before GraphEdits::apply().
  void finish();

 private:
  struct Rewrite {
    onnx::GraphProto* graph;
    const onnx::NodeProto* matmul;
    std::string weight_quantized;
    std::string weight_scale;
    std::string weight_zero_point;
  };

  PassContext& context_;
  std::vector<Rewrite> rewrites_;
};

}  // namespace onnxquant::passes
