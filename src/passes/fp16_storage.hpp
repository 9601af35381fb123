// Float16 storage of one float32 weight, cast back to float32 where it is read.
#pragma once

#include "passes/candidates.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {

void store_weight_float16(const Candidate& candidate, PassContext& context);

}  // namespace onnxquant::passes
