#include "passes/embedding_int4.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "graph/opset.hpp"
#include "io/tensor_data.hpp"
#include "kernels/block_quantization.hpp"
#include "kernels/error_metrics.hpp"
#include "passes/int4_matmul_nbits.hpp"

namespace onnxquant::passes {
namespace {

constexpr int64_t kBits = 4;

std::vector<float> transpose(std::span<const float> values, int64_t rows, int64_t columns) {
  std::vector<float> transposed(values.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < columns; ++c) transposed[c * rows + r] = values[r * columns + c];
  }
  return transposed;
}

// An INT4 MatMul candidate whose weight equals `transposed` bit for bit, in the same graph.
Candidate* find_tied_matmul(const Candidate& embedding, std::vector<Candidate>& candidates,
                            const std::vector<float>& transposed, int64_t rows, int64_t columns,
                            const io::TensorStore& store) {
  for (auto& other : candidates) {
    const graph::Weight& weight = *other.weight;
    if (&other == &embedding || other.done || other.plan != WeightPlan::kInt4) continue;
    if (weight.graph != embedding.weight->graph || weight.tensor->dims_size() != 2) continue;
    if (weight.tensor->dims(0) != rows || weight.tensor->dims(1) != columns) continue;
    if (weight.tensor->data_type() != embedding.weight->tensor->data_type()) continue;
    const bool all_matmul = std::all_of(weight.uses.begin(), weight.uses.end(),
                                        [](const auto& use) { return use.node->op_type() == "MatMul"; });
    if (!all_matmul) continue;
    const std::vector<float> values = io::read_float_values(*weight.tensor, store);
    if (std::memcmp(values.data(), transposed.data(), values.size() * sizeof(float)) == 0) return &other;
  }
  return nullptr;
}

void rewrite_gather(onnx::NodeProto& node, const std::vector<std::string>& inputs, int64_t block_size) {
  const std::string indices = node.input(1);
  node.set_op_type("GatherBlockQuantized");
  node.set_domain(graph::kMicrosoftDomain);
  node.clear_input();
  node.add_input(inputs[0]);
  node.add_input(indices);
  for (size_t i = 1; i < inputs.size(); ++i) node.add_input(inputs[i]);
  node.clear_attribute();
  set_int_attribute(node, "gather_axis", 0);
  set_int_attribute(node, "quantize_axis", 1);
  set_int_attribute(node, "block_size", block_size);
  set_int_attribute(node, "bits", kBits);
}

}  // namespace

void quantize_embedding_int4(const Candidate& candidate, std::vector<Candidate>& candidates, PassContext& context) {
  const graph::Weight& weight = *candidate.weight;
  auto values = read_finite_values(weight, context.store, context.report);
  if (!values) return;

  TensorReport entry = make_tensor_report(weight);
  const int64_t rows = entry.shape[0];     // vocabulary
  const int64_t columns = entry.shape[1];  // hidden size, quantized in blocks
  const int64_t block_size = context.options.block_size;
  const bool symmetric = !context.options.asymmetric;
  const bool is_float16 = weight.tensor->data_type() == onnx::TensorProto::FLOAT16;

  // The block kernel quantizes a [K, N] weight along K, so it takes the table transposed.
  const std::vector<float> transposed = transpose(*values, rows, columns);
  Candidate* tied = find_tied_matmul(candidate, candidates, transposed, columns, rows, context.store);
  const int threads = kernel_threads(context.options);
  const kernels::BlockQuantized quantized = kernels::quantize_blockwise_int4(
      transposed, columns, rows, block_size, symmetric,
      is_float16 ? kernels::ScaleType::kFloat16 : kernels::ScaleType::kFloat32, searches_scales(context.options),
      threads);
  const kernels::ErrorMetrics& error = quantized.error;

  const int64_t blocks = quantized.blocks_per_column;
  std::vector<std::string> inputs = {context.names.allocate(weight.name + "_Q4"),
                                     context.names.allocate(weight.name + "_scales")};
  onnx::GraphProto& graph = *weight.graph;
  // Two-dimensional data serves both operators: GatherBlockQuantized needs [V, H / 2], and
  // MatMulNBits reads the same bytes as [N, blocks * block_size / 2].
  context.edits.add_initializer(graph, io::make_tensor(inputs[0], onnx::TensorProto::UINT8, {rows, blocks * block_size / 2},
                                                       quantized.packed));
  const std::vector<int64_t> scale_dims = {rows, blocks};
  context.edits.add_initializer(graph, is_float16 ? io::make_float16_tensor(inputs[1], scale_dims, quantized.scales)
                                                  : io::make_float_tensor(inputs[1], scale_dims, quantized.scales));
  if (!symmetric) {
    inputs.push_back(context.names.allocate(weight.name + "_zero_points"));
    context.edits.add_initializer(graph, io::make_tensor(inputs[2], onnx::TensorProto::UINT8, {rows, (blocks + 1) / 2},
                                                         quantized.zero_points));
  }
  context.edits.remove_definition(weight);
  for (const auto& use : weight.uses) rewrite_gather(*use.node, inputs, block_size);

  if (tied != nullptr) {
    for (const auto& use : tied->weight->uses) {
      rewrite_matmul(*use.node, inputs, columns, rows, kBits, block_size, context.options.accuracy_level);
      entry.nodes.push_back(use.node->name());
      entry.op_types.push_back("MatMulNBits");
    }
    context.edits.remove_definition(*tied->weight);
    release_float_data(*tied->weight);
    tied->done = true;
    context.report.notes.push_back(fmt::format("'{}' and the transposed '{}' hold the same data; both read one "
                                               "INT4 copy",
                                               weight.name, tied->weight->name));
    spdlog::info("{}", context.report.notes.back());
  }

  entry.dtype_after = "int4";
  entry.bytes_after = quantized.packed.size() + quantized.scales.size() * (is_float16 ? 2 : 4) +
                      quantized.zero_points.size();
  if (tied != nullptr) entry.bytes_before += io::tensor_bytes(*tied->weight->tensor);
  entry.scheme = "block";
  entry.axis = 1;
  entry.block_size = block_size;
  entry.symmetric = symmetric;
  set_quantization_error(entry, error, quantized.scales);
  context.report.tensors.push_back(std::move(entry));
  release_float_data(weight);
}

}  // namespace onnxquant::passes
