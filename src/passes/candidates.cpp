#include "passes/candidates.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <optional>

#include "io/tensor_data.hpp"
#include "passes/weight_format.hpp"

namespace onnxquant::passes {
namespace {

bool is_default_domain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

std::string describe_node(const onnx::NodeProto& node) {
  return node.name().empty() ? fmt::format("an unnamed {} node", node.op_type())
                             : fmt::format("'{}' ({})", node.name(), node.op_type());
}

bool is_excluded(const graph::Weight& weight, const std::vector<std::string>& exclude) {
  auto listed = [&](const std::string& name) { return std::find(exclude.begin(), exclude.end(), name) != exclude.end(); };
  if (listed(weight.name)) return true;
  return std::any_of(weight.uses.begin(), weight.uses.end(), [&](const auto& use) { return listed(use.node->name()); });
}

bool matches(const std::string& pattern, const graph::Weight& weight) {
  auto match = [&](const std::string& name) { return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0; };
  if (match(weight.name)) return true;
  return std::any_of(weight.uses.begin(), weight.uses.end(), [&](const auto& use) { return match(use.node->name()); });
}

// The plan for a weight from the run's precision and the overrides, last match winning. Returns
// nothing when an override keeps the weight float.
std::optional<WeightPlan> plan_for(const graph::Weight& weight, const QuantizeOptions& options, std::string& source) {
  std::optional<WeightPlan> plan = options.precision == Precision::kInt4 ? WeightPlan::kInt4 : WeightPlan::kInt8;
  for (const auto& entry : options.overrides) {
    if (!matches(entry.pattern, weight)) continue;
    source = fmt::format("--override {}={}", entry.pattern, entry.precision);
    if (entry.precision == "int4") plan = WeightPlan::kInt4;
    else if (entry.precision == "int8") plan = WeightPlan::kInt8;
    else if (entry.precision == "fp16") plan = WeightPlan::kFp16Storage;
    else plan = std::nullopt;
  }
  return plan;
}

// The reason a weight read by a quantizable slot stays float, or nothing when it is a candidate.
std::optional<std::string> skip_reason(const graph::Weight& weight, const QuantizeOptions& options, WeightPlan plan) {
  if (is_excluded(weight, options.exclude)) return "excluded by --exclude";
  // Weights at the run's precision use its --format; others use the default format of their precision.
  const bool run_plan = (plan == WeightPlan::kInt8 && options.precision == Precision::kInt8) ||
                        (plan == WeightPlan::kInt4 && options.precision == Precision::kInt4);
  const bool matmul_only = plan == WeightPlan::kInt4 || (run_plan && quantizes_matmul_only(options));

  const int32_t type = weight.tensor->data_type();
  if (plan == WeightPlan::kFp16Storage && type != onnx::TensorProto::FLOAT) {
    return fmt::format("dtype {} is not float32, so float16 storage does not apply", io::dtype_name(type));
  }
  if (type != onnx::TensorProto::FLOAT && type != onnx::TensorProto::FLOAT16) {
    return fmt::format("dtype {} is not supported; float32 and float16 weights are quantized", io::dtype_name(type));
  }

  for (const auto& use : weight.uses) {
    if (!is_weight_slot(use, options.quantize_embeddings)) {
      return fmt::format("also read by {} as input {}, which needs the float tensor", describe_node(*use.node),
                         use.input_index);
    }
    if (matmul_only && use.node->op_type() != "MatMul" && !(plan == WeightPlan::kInt4 && is_embedding_use(use))) {
      return fmt::format("{} applies to MatMul weights; {} keeps it float (use -p int8 --format qdq for {})",
                         plan == WeightPlan::kInt4 && !run_plan ? "INT4" : format_label(options),
                         describe_node(*use.node), use.node->op_type());
    }
  }
  if (weight.is_graph_output) return "also a graph output, which needs the float tensor";

  const uint64_t elements = io::element_count(*weight.tensor);
  if (elements < static_cast<uint64_t>(options.min_elements)) {
    return fmt::format("{} elements, fewer than --min-elements {}", elements, options.min_elements);
  }
  if (matmul_only && weight.tensor->dims_size() != 2) {
    return fmt::format("the weight has rank {}; {} takes 2-D MatMul weights and embedding tables",
                       weight.tensor->dims_size(), plan == WeightPlan::kInt4 && !run_plan ? "INT4" : format_label(options));
  }
  if (run_plan && resolve_format(options) == WeightFormat::kDynamic && type != onnx::TensorProto::FLOAT) {
    return fmt::format("dtype {}: --format dynamic needs float32 activations, the only input type of "
                       "DynamicQuantizeLinear",
                       io::dtype_name(type));
  }
  const bool embedding = std::any_of(weight.uses.begin(), weight.uses.end(), is_embedding_use);
  if (embedding && !std::all_of(weight.uses.begin(), weight.uses.end(), is_embedding_use)) {
    return "read both as an embedding table and as another operator's weight";
  }
  if (embedding && plan == WeightPlan::kInt4 && weight.tensor->dims(1) % options.block_size != 0) {
    return fmt::format("embedding width {} is not a multiple of --block-size {}, which GatherBlockQuantized needs",
                       weight.tensor->dims(1), options.block_size);
  }
  return std::nullopt;
}

}  // namespace

bool is_embedding_use(const graph::WeightUse& use) {
  if (!is_default_domain(*use.node) || use.node->op_type() != "Gather" || use.input_index != kGatherInputData) {
    return false;
  }
  for (const auto& attribute : use.node->attribute()) {
    if (attribute.name() == "axis" && attribute.i() != 0) return false;
  }
  return true;
}

bool is_weight_slot(const graph::WeightUse& use, bool embeddings) {
  if (!is_default_domain(*use.node)) return false;
  if (embeddings && is_embedding_use(use)) return true;
  const std::string& op = use.node->op_type();
  if (op == "MatMul") return use.input_index == kMatMulInputB;
  if (op == "Gemm") return use.input_index == kGemmInputB;
  if (op == "Conv" || op == "ConvTranspose") return use.input_index == kConvInputW;
  return false;
}

std::vector<std::string> node_names(const graph::Weight& weight) {
  std::vector<std::string> names;
  for (const auto& use : weight.uses) names.push_back(use.node->name());
  return names;
}

std::vector<std::string> node_op_types(const graph::Weight& weight) {
  std::vector<std::string> types;
  for (const auto& use : weight.uses) types.push_back(use.node->op_type());
  return types;
}

SkippedTensor make_skipped(const graph::Weight& weight, std::string reason) {
  SkippedTensor skipped;
  skipped.name = weight.name;
  skipped.scope = weight.scope;
  skipped.nodes = node_names(weight);
  skipped.op_types = node_op_types(weight);
  skipped.shape = io::dims_of(*weight.tensor);
  skipped.dtype = io::dtype_name(weight.tensor->data_type());
  skipped.bytes = io::tensor_bytes(*weight.tensor);
  skipped.reason = std::move(reason);
  return skipped;
}

std::vector<Candidate> select_candidates(std::vector<graph::Weight>& weights, const QuantizeOptions& options,
                                         Report& report) {
  std::vector<Candidate> candidates;
  for (auto& weight : weights) {
    const bool in_weight_slot = std::any_of(weight.uses.begin(), weight.uses.end(), [&](const auto& use) {
      return is_weight_slot(use, options.quantize_embeddings);
    });
    if (!in_weight_slot) continue;

    std::string source;
    const std::optional<WeightPlan> plan = plan_for(weight, options, source);
    if (!plan) {
      report.skipped.push_back(make_skipped(weight, "kept float by " + source));
      report.skipped.back().precision_source = source;
    } else if (auto reason = skip_reason(weight, options, *plan)) {
      report.skipped.push_back(make_skipped(weight, std::move(*reason)));
      report.skipped.back().precision_source = source;
    } else {
      candidates.push_back({&weight, *plan, source});
    }
  }
  return candidates;
}

}  // namespace onnxquant::passes

namespace onnxquant::passes {

std::optional<io::FloatValues> read_finite_values(const graph::Weight& weight, const io::TensorStore& store,
                                                  Report& report) {
  io::FloatValues values = io::read_float_view(*weight.tensor, store);
  const std::span<const float> view = values;
  const auto non_finite = std::count_if(view.begin(), view.end(), [](float x) { return !std::isfinite(x); });
  if (non_finite > 0) {
    report.skipped.push_back(
        make_skipped(weight, fmt::format("contains {} NaN or infinite values; kept float so they stay exact", non_finite)));
    return std::nullopt;
  }
  return values;
}

void release_float_data(const graph::Weight& weight) {
  onnx::TensorProto released;
  released.set_name(weight.tensor->name());
  released.set_data_type(weight.tensor->data_type());
  *released.mutable_dims() = weight.tensor->dims();
  weight.tensor->Swap(&released);
}

TensorReport make_tensor_report(const graph::Weight& weight) {
  TensorReport entry;
  entry.name = weight.name;
  entry.scope = weight.scope;
  entry.nodes = node_names(weight);
  entry.op_types = node_op_types(weight);
  entry.shape = io::dims_of(*weight.tensor);
  entry.dtype_before = io::dtype_name(weight.tensor->data_type());
  entry.elements = io::element_count(*weight.tensor);
  entry.bytes_before = io::tensor_bytes(*weight.tensor);
  return entry;
}

}  // namespace onnxquant::passes
