// INT4 token embeddings: Gather on a constant table becomes com.microsoft GatherBlockQuantized.
#pragma once

#include <vector>

#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

// Quantizes the table [V, H] in blocks of --block-size along H. When an INT4 MatMul candidate's
// weight [H, V] equals the transposed table (a tied lm_head, decided by comparing the
// data), that MatMul becomes MatMulNBits reading the same packed data and scales, and its
// candidate is marked done.
void quantize_embedding_int4(const Candidate& candidate, std::vector<Candidate>& candidates, PassContext& context);

}  // namespace onnxquant::passes
