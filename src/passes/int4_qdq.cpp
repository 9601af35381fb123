#include "passes/int4_qdq.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "graph/opset.hpp"
#include "graph/opset_raise.hpp"
#include "io/tensor_data.hpp"
#include "kernels/axis_block_quantization.hpp"
#include "kernels/error_metrics.hpp"

namespace onnxquant::passes {
namespace {

// TensorProto.DataType values of ONNX 1.16 and later; libonnx 1.12's headers do not name them.
constexpr int32_t kUint4 = 21;
constexpr int32_t kInt4 = 22;
// DequantizeLinear blocks along K, the first axis of MatMul B [K, N].
constexpr int64_t kBlockAxis = 0;

}  // namespace

bool prepare_int4_qdq_opset(onnx::ModelProto& model, Report& report) {
  const int64_t opset = graph::opset_version(model, "");
  std::string error;
  if (graph::raise_opset_to_21(model, error)) {
    if (opset < graph::kOpsetBlockedDequantize) {
      report.notes.push_back(fmt::format("converted ai.onnx opset {} to {} for DequantizeLinear with int4 blocks",
                                         opset, graph::kOpsetBlockedDequantize));
      spdlog::info("{}", report.notes.back());
    }
    return true;
  }
  report.notes.push_back(fmt::format(
      "--format qdq needs ai.onnx opset {} and the model could not be converted from opset {} ({}); INT4 weights are "
      "written as com.microsoft MatMulNBits instead",
      graph::kOpsetBlockedDequantize, opset, error));
  spdlog::warn("{}", report.notes.back());
  return false;
}

void quantize_weight_int4_qdq(const Candidate& candidate, PassContext& context) {
  const graph::Weight& weight = *candidate.weight;
  auto values = read_finite_values(weight, context.store, context.report);
  if (!values) return;

  TensorReport entry = make_tensor_report(weight);
  const int64_t k = entry.shape[0];
  const int64_t n = entry.shape[1];
  const int64_t block_size = context.options.block_size;
  const bool symmetric = !context.options.asymmetric;
  // DequantizeLinear 21 returns the type of its scale, so float16 weights get float16 scales.
  const bool is_float16 = weight.tensor->data_type() == onnx::TensorProto::FLOAT16;
  const auto scale_type = is_float16 ? kernels::ScaleType::kFloat16 : kernels::ScaleType::kFloat32;

  const bool search = searches_scales(context.options);
  // NOTE: the calibration importance is not used here yet; only MatMulNBits weights use it.
  const int threads = kernel_threads(context.options);
  const kernels::AxisBlockQuantized quantized =
      kernels::quantize_axis_blocks_4bit(*values, k, n, block_size, symmetric, scale_type, search, threads);
  const kernels::ErrorMetrics error =
      kernels::measure_error(*values, kernels::dequantize_axis_blocks(quantized, threads), threads);
  if (search) {
    const auto minmax = kernels::quantize_axis_blocks_4bit(*values, k, n, block_size, symmetric, scale_type,
                                                           /*search_scales=*/false, threads);
    entry.sqnr_minmax_db =
        kernels::measure_error(*values, kernels::dequantize_axis_blocks(minmax, threads), threads).sqnr_db;
  }

  const std::vector<uint8_t> packed = kernels::pack_4bit(quantized.codes, threads);
  const std::vector<uint8_t> zero_points = kernels::pack_4bit(quantized.zero_points, threads);
  const uint64_t bytes_after = packed.size() + quantized.scales.size() * (is_float16 ? 2 : 4) + zero_points.size();
  if (bytes_after >= entry.bytes_before) {
    context.report.skipped.push_back(make_skipped(
        weight, fmt::format("INT4 would take {} bytes with its scales, not fewer than the {} bytes of the float weight",
                            bytes_after, entry.bytes_before)));
    return;
  }

  const int32_t quantized_type = symmetric ? kInt4 : kUint4;
  const std::vector<int64_t> scale_dims = {quantized.blocks, n};
  std::vector<std::string> inputs = {context.names.allocate(weight.name + "_quantized"),
                                     context.names.allocate(weight.name + "_scale")};
  onnx::GraphProto& graph = *weight.graph;
  context.edits.remove_definition(weight);
  context.edits.add_initializer(graph, io::make_tensor(inputs[0], quantized_type, entry.shape, packed));
  context.edits.add_initializer(graph, is_float16 ? io::make_float16_tensor(inputs[1], scale_dims, quantized.scales)
                                                  : io::make_float_tensor(inputs[1], scale_dims, quantized.scales));
  // Symmetric blocks leave out the zero point, which then defaults to 0 of the type of the data.
  if (!symmetric) {
    inputs.push_back(context.names.allocate(weight.name + "_zero_point"));
    context.edits.add_initializer(graph, io::make_tensor(inputs[2], quantized_type, scale_dims, zero_points));
  }
  onnx::NodeProto dequantize =
      make_node("DequantizeLinear", "", context.names.allocate(weight.name + "_DequantizeLinear"), inputs, {weight.name});
  set_int_attribute(dequantize, "axis", kBlockAxis);
  set_int_attribute(dequantize, "block_size", block_size);
  context.edits.prepend_node(graph, std::move(dequantize));

  entry.dtype_after = symmetric ? "int4" : "uint4";
  entry.bytes_after = bytes_after;
  entry.scheme = "block";
  entry.axis = kBlockAxis;
  entry.block_size = block_size;
  entry.symmetric = symmetric;
  set_quantization_error(entry, error, quantized.scales);
  context.report.tensors.push_back(std::move(entry));
  release_float_data(weight);
}

}  // namespace onnxquant::passes
