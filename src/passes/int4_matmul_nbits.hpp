// INT4 weight-only quantization: MatMul with a constant 2-D B becomes com.microsoft MatMulNBits.
#pragma once

#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

inline constexpr int64_t kMicrosoftOpsetVersion = 1;
inline constexpr int64_t kMinBlockSize = 16;

void quantize_weight_int4(const Candidate& candidate, PassContext& context);

// Quantizes a MatMul weight [K, N] in blocks along K to `bits` (4 or 8) as MatMulNBits.
void quantize_weight_matmul_nbits(const Candidate& candidate, PassContext& context, int64_t bits);

// Turns a MatMul into MatMulNBits reading `inputs` (packed B, scales, optional zero points). The
// node keeps its name and output.
void rewrite_matmul(onnx::NodeProto& node, const std::vector<std::string>& inputs, int64_t k, int64_t n,
                    int64_t bits, int64_t block_size, int64_t accuracy_level);

}  // namespace onnxquant::passes
