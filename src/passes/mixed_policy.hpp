// The sensitive-weights policy for mixed INT4/INT8 runs.
#pragma once

#include <vector>

#include <onnx/onnx_pb.h>

#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"
#include "passes/candidates.hpp"

namespace onnxquant::passes {

// Moves INT4 candidates that no --override chose to INT8 in two cases. The first is the model's
// output projection: a MatMul whose result reaches a graph output without passing another MatMul,
// Gemm or Conv. The second is a measured INT4 SQNR among the lowest, up to
// `options.sensitive_fraction` of the INT4 candidates' elements.
void apply_sensitive_policy(onnx::ModelProto& model, const io::TensorStore& store, std::vector<Candidate>& candidates,
                            const QuantizeOptions& options, Report& report);

}  // namespace onnxquant::passes
