#include "passes/int4_matmul_nbits.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "graph/opset.hpp"
#include "io/tensor_data.hpp"
#include "kernels/block_quantization.hpp"
#include "kernels/error_metrics.hpp"

namespace onnxquant::passes {
void rewrite_matmul(onnx::NodeProto& node, const std::vector<std::string>& inputs, int64_t k, int64_t n,
                    int64_t bits, int64_t block_size, int64_t accuracy_level) {
  const std::string a = node.input(0);
  node.set_op_type("MatMulNBits");
  node.set_domain(graph::kMicrosoftDomain);
  node.clear_input();
  node.add_input(a);
  for (const auto& input : inputs) node.add_input(input);
  set_int_attribute(node, "K", k);
  set_int_attribute(node, "N", n);
  set_int_attribute(node, "bits", bits);
  set_int_attribute(node, "block_size", block_size);
  if (accuracy_level != 0) set_int_attribute(node, "accuracy_level", accuracy_level);
}

void quantize_weight_int4(const Candidate& candidate, PassContext& context) {
  quantize_weight_matmul_nbits(candidate, context, 4);
}

void quantize_weight_matmul_nbits(const Candidate& candidate, PassContext& context, int64_t bits) {
  const graph::Weight& weight = *candidate.weight;
  auto values = read_finite_values(weight, context.store, context.report);
  if (!values) return;

  TensorReport entry = make_tensor_report(weight);
  const int64_t k = entry.shape[0];
  const int64_t n = entry.shape[1];
  const int64_t block_size = context.options.block_size;
  const bool symmetric = !context.options.asymmetric;
  // MatMulNBits takes scales in the type of A, which is the type of the float weight.
  const bool is_float16 = weight.tensor->data_type() == onnx::TensorProto::FLOAT16;
  const auto scale_type = is_float16 ? kernels::ScaleType::kFloat16 : kernels::ScaleType::kFloat32;

  const bool search = searches_scales(context.options);
  const int threads = kernel_threads(context.options);
  const std::vector<float> importance = search ? input_importance(weight, k, context) : std::vector<float>{};
  const kernels::BlockQuantized quantized = kernels::quantize_blockwise(*values, k, n, block_size, bits, symmetric,
                                                                        scale_type, search, threads, importance);
  const kernels::ErrorMetrics& error = quantized.error;
  if (search) entry.sqnr_minmax_db = kernels::sqnr_db(error.signal_power, quantized.minmax_squared_error);

  const uint64_t scale_bytes = quantized.scales.size() * (is_float16 ? 2 : 4);
  const uint64_t bytes_after = quantized.packed.size() + scale_bytes + quantized.zero_points.size();
  if (bytes_after >= entry.bytes_before) {
    context.report.skipped.push_back(make_skipped(
        weight, fmt::format("{} would take {} bytes, not fewer than the {} bytes of the float weight (K {} padded "
                            "to blocks of {})",
                            bits == 4 ? "INT4" : "INT8 MatMulNBits", bytes_after, entry.bytes_before, k, block_size)));
    return;
  }

  const int64_t blocks = quantized.blocks_per_column;
  std::vector<std::string> inputs = {context.names.allocate(fmt::format("{}_Q{}", weight.name, bits)),
                                     context.names.allocate(weight.name + "_scales")};
  onnx::GraphProto& graph = *weight.graph;
  context.edits.remove_definition(weight);
  context.edits.forget_value(graph, weight.name);
  context.edits.add_initializer(
      graph, io::make_tensor(inputs[0], onnx::TensorProto::UINT8, {n, blocks, block_size * bits / 8}, quantized.packed));
  const std::vector<int64_t> scale_dims = {n, blocks};
  context.edits.add_initializer(graph, is_float16 ? io::make_float16_tensor(inputs[1], scale_dims, quantized.scales)
                                                  : io::make_float_tensor(inputs[1], scale_dims, quantized.scales));
  if (!symmetric) {
    inputs.push_back(context.names.allocate(weight.name + "_zero_points"));
    // Zero points are packed like the codes: two per byte with 4 bits, one with 8.
    context.edits.add_initializer(graph, io::make_tensor(inputs[2], onnx::TensorProto::UINT8,
                                                         {n, (blocks * bits + 7) / 8}, quantized.zero_points));
  }
  for (const auto& use : weight.uses) {
    rewrite_matmul(*use.node, inputs, k, n, bits, block_size, context.options.accuracy_level);
  }

  entry.dtype_after = bits == 4 ? "int4" : "int8";
  entry.bytes_after = bytes_after;
  entry.scheme = "block";
  entry.axis = 0;
  entry.block_size = block_size;
  entry.symmetric = symmetric;
  set_quantization_error(entry, error, quantized.scales);
  context.report.tensors.push_back(std::move(entry));
  release_float_data(weight);
}

}  // namespace onnxquant::passes
