#include "passes/matmul_nbits8.hpp"

#include "passes/int4_matmul_nbits.hpp"

namespace onnxquant::passes {

void quantize_weight_matmul_nbits8(const Candidate& candidate, PassContext& context) {
  quantize_weight_matmul_nbits(candidate, context, 8);
}

}  // namespace onnxquant::passes
