// INT4 weight-only quantization: MatMul with a constant 2-D B becomes com.microsoft MatMulNBits.
#pragma once

#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

inline constexpr int64_t kMicrosoftOpsetVersion = 1;
inline constexpr int64_t kMinBlockSize = 16;

void quantize_weight_int4(const Candidate& candidate, PassContext& context);

}  // namespace onnxquant::passes
