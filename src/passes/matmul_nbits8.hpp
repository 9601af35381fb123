// INT8 weight-only quantization as com.microsoft MatMulNBits with bits = 8: MatMul with a constant
// 2-D B becomes MatMulNBits reading one byte per code.
#pragma once

#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

void quantize_weight_matmul_nbits8(const Candidate& candidate, PassContext& context);

}  // namespace onnxquant::passes
