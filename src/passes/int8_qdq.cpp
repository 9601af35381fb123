#include "passes/int8_qdq.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "io/tensor_data.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/linear_quantization.hpp"

namespace onnxquant::passes {
namespace {

int64_t gemm_trans_b(const onnx::NodeProto& node) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == "transB") return attribute.i();
  }
  return 0;
}

// The axis shared by all uses, or -1 when they disagree or the weight has rank below 2.
int64_t common_axis(const graph::Weight& weight) {
  const int64_t rank = weight.tensor->dims_size();
  if (rank < 2) return -1;
  int64_t axis = -1;
  for (const auto& use : weight.uses) {
    const int64_t use_axis = output_channel_axis(use, rank);
    if (axis != -1 && use_axis != axis) return -1;
    axis = use_axis;
  }
  return axis;
}

kernels::AxisLayout layout_for(const std::vector<int64_t>& dims, int64_t axis) {
  int64_t size = 1;
  for (int64_t dim : dims) size *= dim;
  if (axis < 0) return {1, 1, size};
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= dims[i];
  int64_t inner = 1;
  for (size_t i = static_cast<size_t>(axis) + 1; i < dims.size(); ++i) inner *= dims[i];
  return {outer, dims[axis], inner};
}

}  // namespace

int64_t output_channel_axis(const graph::WeightUse& use, int64_t rank) {
  const std::string& op = use.node->op_type();
  if (op == "Gemm") return gemm_trans_b(*use.node) != 0 ? 0 : 1;
  if (op == "Conv") return 0;
  if (op == "ConvTranspose") return 1;
  if (op == "Gather") return 0;  // one scale per embedding row
  return rank - 1;  // MatMul B [..., K, N]
}

void quantize_weight_int8(const Candidate& candidate, const Int8Settings& settings, PassContext& context) {
  const graph::Weight& weight = *candidate.weight;
  auto values = read_finite_values(weight, context.store, context.report);
  if (!values) return;

  TensorReport entry = make_tensor_report(weight);
  const int64_t axis = settings.per_channel ? common_axis(weight) : -1;
  if (settings.per_channel && axis < 0) {
    context.report.notes.push_back(fmt::format(
        "'{}': per-tensor, because its uses need different channel axes or it has fewer than 2 dimensions",
        weight.name));
  }
  const kernels::AxisLayout layout = layout_for(entry.shape, axis);
  const kernels::IntegerRange range = settings.asymmetric ? kernels::kUint8Range : kernels::kInt8SymmetricRange;
  const int32_t quantized_type = settings.asymmetric ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;

  // Quantize, then dequantize exactly as DequantizeLinear does, to measure the error.
  const bool search = searches_scales(context.options);
  const int threads = kernel_threads(context.options);
  const auto params = kernels::choose_linear_params(*values, layout, !settings.asymmetric, range, search, threads);
  const bool is_signed = !settings.asymmetric;
  std::vector<uint8_t> quantized(values->size());
  if (search) {
    const auto minmax = kernels::choose_linear_params(*values, layout, is_signed, range, /*search_scales=*/false, threads);
    kernels::quantize_linear(*values, layout, minmax, range, quantized, threads);
    entry.sqnr_minmax_db = kernels::measure_linear_error(*values, quantized, layout, minmax, is_signed, threads).sqnr_db;
  }
  kernels::quantize_linear(*values, layout, params, range, quantized, threads);
  const kernels::ErrorMetrics error = kernels::measure_linear_error(*values, quantized, layout, params, is_signed, threads);

  std::vector<float> scales;
  std::vector<uint8_t> zero_points;
  for (const auto& p : params) {
    scales.push_back(p.scale);
    zero_points.push_back(static_cast<uint8_t>(p.zero_point & 0xff));
  }
  const std::vector<int64_t> param_dims = axis < 0 ? std::vector<int64_t>{} : std::vector<int64_t>{layout.channels};

  const uint64_t bytes_after = quantized.size() + scales.size() * sizeof(float) + zero_points.size();
  if (bytes_after >= entry.bytes_before) {
    context.report.skipped.push_back(make_skipped(
        weight, fmt::format("INT8 would take {} bytes with its scales, not fewer than the {} bytes of the float weight",
                            bytes_after, entry.bytes_before)));
    return;
  }

  const std::string quantized_name = context.names.allocate(weight.name + "_quantized");
  const std::string scale_name = context.names.allocate(weight.name + "_scale");
  const std::string zero_point_name = context.names.allocate(weight.name + "_zero_point");
  onnx::GraphProto& graph = *weight.graph;
  context.edits.remove_definition(weight);
  context.edits.add_initializer(graph, io::make_tensor(quantized_name, quantized_type, entry.shape, quantized));
  context.edits.add_initializer(graph, io::make_float_tensor(scale_name, param_dims, scales));
  context.edits.add_initializer(graph, io::make_tensor(zero_point_name, quantized_type, param_dims, zero_points));

  // DequantizeLinear before opset 19 returns float32, so a float16 weight gets a Cast back to float16.
  const bool is_float16 = weight.tensor->data_type() == onnx::TensorProto::FLOAT16;
  const std::string dequantized_name = is_float16 ? context.names.allocate(weight.name + "_float32") : weight.name;
  onnx::NodeProto dequantize = make_node("DequantizeLinear", "", context.names.allocate(weight.name + "_DequantizeLinear"),
                                         {quantized_name, scale_name, zero_point_name}, {dequantized_name});
  if (axis >= 0) set_int_attribute(dequantize, "axis", axis);
  context.edits.prepend_node(graph, std::move(dequantize));
  if (is_float16) {
    onnx::NodeProto cast = make_node("Cast", "", context.names.allocate(weight.name + "_Cast"), {dequantized_name},
                                     {weight.name});
    set_int_attribute(cast, "to", onnx::TensorProto::FLOAT16);
    context.edits.prepend_node(graph, std::move(cast));
  }

  entry.dtype_after = io::dtype_name(quantized_type);
  entry.bytes_after = bytes_after;
  entry.scheme = axis < 0 ? "per-tensor" : "per-channel";
  entry.axis = axis;
  entry.symmetric = !settings.asymmetric;
  set_quantization_error(entry, error, scales);
  context.report.tensors.push_back(std::move(entry));
  release_float_data(weight);
}

}  // namespace onnxquant::passes
