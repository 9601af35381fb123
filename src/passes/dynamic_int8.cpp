#include "passes/dynamic_int8.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <spdlog/spdlog.h>
#include <utility>

#include "graph/opset.hpp"
#include "io/tensor_data.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/linear_quantization.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::passes {
namespace {

// MatMul input positions.
constexpr int kMatMulInputA = 0;
// The output channels of MatMul B [K, N] are its columns, axis 1.
constexpr int64_t kColumnAxis = 1;

std::string node_base_name(const onnx::NodeProto& node) { return node.name().empty() ? node.op_type() : node.name(); }

}  // namespace

void prepare_dynamic_opset(onnx::ModelProto& model, Report& report) {
  const int64_t opset = graph::opset_version(model, "");
  if (opset >= kMinOpsetDynamicQuantizeLinear) return;
  std::string error;
  if (!graph::convert_opset(model, kMinOpsetDynamicQuantizeLinear, error)) {
    throw ModelError(fmt::format("--format dynamic needs ai.onnx opset {} for DynamicQuantizeLinear and the ONNX "
                                 "version converter could not convert opset {}: {}",
                                 kMinOpsetDynamicQuantizeLinear, opset, error));
  }
  report.notes.push_back(fmt::format("converted ai.onnx opset {} to {} for DynamicQuantizeLinear", opset,
                                     kMinOpsetDynamicQuantizeLinear));
  spdlog::info("{}", report.notes.back());
}

void DynamicInt8Pass::quantize(const Candidate& candidate) {
  const graph::Weight& weight = *candidate.weight;
  auto values = read_finite_values(weight, context_.store, context_.report);
  if (!values) return;

  TensorReport entry = make_tensor_report(weight);
  const int64_t k = entry.shape[0];
  const int64_t n = entry.shape[1];
  const bool symmetric = !context_.options.asymmetric;
  const bool per_channel = context_.options.per_channel;
  const kernels::AxisLayout layout = per_channel ? kernels::AxisLayout{k, n, 1} : kernels::AxisLayout{1, 1, k * n};
  const kernels::IntegerRange range = symmetric ? kernels::kInt8SymmetricRange : kernels::kUint8Range;
  const int32_t quantized_type = symmetric ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8;

  // Quantize, then dequantize as MatMulInteger's (B - B_zero_point) times the scale does.
  const bool search = searches_scales(context_.options);
  const int threads = kernel_threads(context_.options);
  const auto params = kernels::choose_linear_params(*values, layout, symmetric, range, search, threads);
  std::vector<uint8_t> quantized(values->size());
  if (search) {
    const auto minmax = kernels::choose_linear_params(*values, layout, symmetric, range, /*search_scales=*/false,
                                                      threads);
    kernels::quantize_linear(*values, layout, minmax, range, quantized, threads);
    entry.sqnr_minmax_db = kernels::measure_linear_error(*values, quantized, layout, minmax, symmetric, threads).sqnr_db;
  }
  kernels::quantize_linear(*values, layout, params, range, quantized, threads);
  const kernels::ErrorMetrics error = kernels::measure_linear_error(*values, quantized, layout, params, symmetric,
                                                                    threads);

  std::vector<float> scales;
  std::vector<uint8_t> zero_points;
  for (const auto& p : params) {
    scales.push_back(p.scale);
    zero_points.push_back(static_cast<uint8_t>(p.zero_point & 0xff));
  }
  const std::vector<int64_t> param_dims = per_channel ? std::vector<int64_t>{n} : std::vector<int64_t>{};
  const uint64_t bytes_after = quantized.size() + scales.size() * sizeof(float) + zero_points.size();
  if (bytes_after >= entry.bytes_before) {
    context_.report.skipped.push_back(make_skipped(
        weight, fmt::format("INT8 would take {} bytes with its scales, not fewer than the {} bytes of the float weight",
                            bytes_after, entry.bytes_before)));
    return;
  }

  Rewrite rewrite{weight.graph, nullptr, context_.names.allocate(weight.name + "_quantized"),
                  context_.names.allocate(weight.name + "_scale"), context_.names.allocate(weight.name + "_zero_point")};
  onnx::GraphProto& graph = *weight.graph;
  context_.edits.remove_definition(weight);
  context_.edits.forget_value(graph, weight.name);
  context_.edits.add_initializer(graph, io::make_tensor(rewrite.weight_quantized, quantized_type, entry.shape, quantized));
  context_.edits.add_initializer(graph, io::make_float_tensor(rewrite.weight_scale, param_dims, scales));
  context_.edits.add_initializer(graph,
                                 io::make_tensor(rewrite.weight_zero_point, quantized_type, param_dims, zero_points));
  // A MatMul in a subgraph can read a weight of an enclosing graph, so its nodes go to its own graph.
  for (const auto& use : weight.uses) {
    rewrite.graph = use.graph;
    rewrite.matmul = use.node;
    rewrites_.push_back(rewrite);
  }

  entry.dtype_after = io::dtype_name(quantized_type);
  entry.bytes_after = bytes_after;
  entry.scheme = per_channel ? "per-channel" : "per-tensor";
  entry.axis = per_channel ? kColumnAxis : -1;
  entry.symmetric = symmetric;
  set_quantization_error(entry, error, scales);
  context_.report.tensors.push_back(std::move(entry));
  release_float_data(weight);
}

void DynamicInt8Pass::finish() {
  // Position of each node in its graph, so a shared DynamicQuantizeLinear goes before the first
  // MatMul that reads its output.
  std::map<const onnx::NodeProto*, int> positions;
  for (const auto& rewrite : rewrites_) {
    if (positions.count(rewrite.matmul) > 0) continue;
    for (int i = 0; i < rewrite.graph->node_size(); ++i) positions[&rewrite.graph->node(i)] = i;
  }

  // The MatMuls of one graph that read the same activation.
  std::map<std::pair<onnx::GraphProto*, std::string>, std::vector<const Rewrite*>> groups;
  for (const auto& rewrite : rewrites_) {
    groups[{rewrite.graph, rewrite.matmul->input(kMatMulInputA)}].push_back(&rewrite);
  }

  std::map<const Rewrite*, std::vector<std::string>> activations;  // quantized, scale, zero point
  for (const auto& [key, members] : groups) {
    const auto& [graph, activation] = key;
    const Rewrite* first = *std::min_element(members.begin(), members.end(), [&](const Rewrite* a, const Rewrite* b) {
      return positions.at(a->matmul) < positions.at(b->matmul);
    });
    const std::vector<std::string> outputs = {context_.names.allocate(activation + "_quantized"),
                                              context_.names.allocate(activation + "_scale"),
                                              context_.names.allocate(activation + "_zero_point")};
    context_.edits.insert_before(*graph, *first->matmul,
                                 make_node("DynamicQuantizeLinear", "",
                                           context_.names.allocate(activation + "_DynamicQuantizeLinear"),
                                           {activation}, outputs));
    for (const Rewrite* member : members) activations[member] = outputs;
  }

  for (const auto& rewrite : rewrites_) {
    const onnx::NodeProto& matmul = *rewrite.matmul;
    const std::vector<std::string>& activation = activations.at(&rewrite);
    const std::string base = node_base_name(matmul);
    const std::string scale = context_.names.allocate(base + "_scale");
    const std::string product = context_.names.allocate(base + "_int32");
    const std::string product_float = context_.names.allocate(base + "_float");

    onnx::GraphProto& graph = *rewrite.graph;
    context_.edits.insert_before(graph, matmul,
                                 make_node("Mul", "", context_.names.allocate(base + "_scale_Mul"),
                                           {activation[1], rewrite.weight_scale}, {scale}));
    context_.edits.insert_before(graph, matmul,
                                 make_node("MatMulInteger", "", context_.names.allocate(base + "_MatMulInteger"),
                                           {activation[0], rewrite.weight_quantized, activation[2],
                                            rewrite.weight_zero_point},
                                           {product}));
    onnx::NodeProto cast =
        make_node("Cast", "", context_.names.allocate(base + "_Cast"), {product}, {product_float});
    set_int_attribute(cast, "to", onnx::TensorProto::FLOAT);
    context_.edits.insert_before(graph, matmul, std::move(cast));
    context_.edits.insert_before(graph, matmul,
                                 make_node("Mul", "", context_.names.allocate(base + "_output_Mul"),
                                           {product_float, scale}, {matmul.output(0)}));
    context_.edits.remove_node(graph, matmul);
  }
  rewrites_.clear();
}

}  // namespace onnxquant::passes
