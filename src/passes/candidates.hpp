// Choosing which weights a precision quantizes, and why the others stay float.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph/weights.hpp"
#include "io/tensor_data.hpp"
#include "io/tensor_store.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant::passes {

// The treatment a pass gives one weight.
enum class WeightPlan { kInt8, kInt4, kFp16Storage };

struct Candidate {
  graph::Weight* weight;
  WeightPlan plan;
  std::string precision_source;  // empty unless --override or the mixed policy chose the plan
  // Set when another candidate's pass already quantized this weight (a tied embedding and lm_head).
  bool done = false;
};

// Input positions of the weight operand of the quantizable operators.
inline constexpr int kMatMulInputB = 1;
inline constexpr int kGemmInputB = 1;
inline constexpr int kConvInputW = 1;
inline constexpr int kGatherInputData = 0;

// True for a use that reads the weight operand of MatMul, Gemm, Conv or ConvTranspose, or, with
// `embeddings`, the table of a Gather along axis 0.
bool is_weight_slot(const graph::WeightUse& use, bool embeddings = false);
bool is_embedding_use(const graph::WeightUse& use);

// Splits the model's weights into candidates for `options.precision` and skipped tensors, which
// go into the report with a reason. Weights that no MatMul, Gemm, Conv or ConvTranspose reads as
// its weight operand are neither.
std::vector<Candidate> select_candidates(std::vector<graph::Weight>& weights, const QuantizeOptions& options,
                                         Report& report);

// The report entry of a weight that stays float.
SkippedTensor make_skipped(const graph::Weight& weight, std::string reason);

// Names and op types of the nodes that read a weight, for the report.
std::vector<std::string> node_names(const graph::Weight& weight);
std::vector<std::string> node_op_types(const graph::Weight& weight);

}  // namespace onnxquant::passes

namespace onnxquant::passes {

// Reads the weight as float32 values, mapped rather than copied where io::read_float_view allows.
// Returns nothing, and records the weight as skipped, when it contains NaN or infinity: such
// weights stay float so that those values stay exact.
std::optional<io::FloatValues> read_finite_values(const graph::Weight& weight, const io::TensorStore& store,
                                                  Report& report);

// Frees the float data of a weight that a pass has replaced, so that inline data does not stay in
// memory until the model is saved.
void release_float_data(const graph::Weight& weight);

// A report entry with the weight's identity, shape and original size filled in.
TensorReport make_tensor_report(const graph::Weight& weight);

}  // namespace onnxquant::passes
