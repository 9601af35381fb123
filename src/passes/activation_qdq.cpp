#include "passes/activation_qdq.hpp"

#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <limits>
#include <map>
#include <set>
#include <spdlog/spdlog.h>

#include "graph/graph_walk.hpp"
#include "graph/opset.hpp"
#include "io/tensor_data.hpp"
#include "kernels/activation_ranges.hpp"
#include "passes/graph_edits.hpp"
#include "passes/int8_qdq.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {
namespace {

constexpr int kActivationInput = 0;
constexpr int kWeightInput = 1;
constexpr int kBiasInput = 2;

kernels::ValueRange choose_range(const ActivationData& data, const QuantizeOptions& options) {
  switch (options.calibration_method) {
    case CalibrationMethod::kPercentile: return kernels::percentile_range(data.values, options.calibration_percentile);
    case CalibrationMethod::kMse: return kernels::mse_range(data.values);
    case CalibrationMethod::kMinMax: break;
  }
  return kernels::minmax_range(data.values);
}

// The initializer, or the `value` of the Constant node, that defines `name`.
const onnx::TensorProto* find_constant(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto& tensor : graph.initializer()) {
    if (tensor.name() == name) return &tensor;
  }
  for (const auto& node : graph.node()) {
    if (node.op_type() != "Constant" || node.output_size() != 1 || node.output(0) != name) continue;
    for (const auto& attribute : node.attribute()) {
      if (attribute.name() == "value" && attribute.has_t()) return &attribute.t();
    }
  }
  return nullptr;
}

// A node is rewritten when its weight comes straight from an INT8 DequantizeLinear.
const onnx::NodeProto* weight_dequantizer(const onnx::NodeProto& node,
                                          const std::map<std::string, const onnx::NodeProto*>& producers) {
  const std::string& op = node.op_type();
  if (!node.domain().empty() || (op != "MatMul" && op != "Gemm" && op != "Conv") || node.input_size() <= kWeightInput) {
    return nullptr;
  }
  const auto found = producers.find(node.input(kWeightInput));
  if (found == producers.end() || found->second->op_type() != "DequantizeLinear") return nullptr;
  return found->second;
}

struct Rewrite {
  onnx::GraphProto& graph;
  GraphEdits& edits;
  graph::NameAllocator& names;
  Report& report;
  int64_t opset;
  // Quantized biases by float bias name and scale bits, so consumers with equal scales share one.
  std::map<std::pair<std::string, std::string>, std::string> biases = {};
};

// Replaces the float bias of `node` with an int32 bias dequantized at activation scale x weight
// scale, when every value fits in int32; otherwise the bias stays float and a note gives the reason.
void quantize_bias(onnx::NodeProto& node, float activation_scale, const onnx::NodeProto& dequantizer, Rewrite& rewrite) {
  if (node.op_type() == "MatMul" || node.input_size() <= kBiasInput || node.input(kBiasInput).empty()) return;
  const std::string& bias_name = node.input(kBiasInput);
  const onnx::TensorProto* bias = find_constant(rewrite.graph, bias_name);
  const onnx::TensorProto* weight_scale = find_constant(rewrite.graph, dequantizer.input(1));
  auto keep_float = [&](const std::string& reason) {
    rewrite.report.notes.push_back(fmt::format("bias '{}' of node '{}' stays float: {}", bias_name, node.name(), reason));
    spdlog::info("{}", rewrite.report.notes.back());
  };
  if (bias == nullptr || weight_scale == nullptr || bias->data_type() != onnx::TensorProto::FLOAT ||
      bias->dims_size() != 1) {
    keep_float("it is not a 1-D float32 constant");
    return;
  }
  const std::vector<float> values = io::read_float_values(*bias);
  const std::vector<float> weight_scales = io::read_float_values(*weight_scale);
  const bool per_channel = weight_scales.size() != 1;
  if (per_channel && weight_scales.size() != values.size()) {
    keep_float("its length differs from the weight's scale count");
    return;
  }
  if (per_channel && rewrite.opset < kMinOpsetPerChannel) {
    keep_float(fmt::format("a per-channel bias scale needs ai.onnx opset {}", kMinOpsetPerChannel));
    return;
  }
  std::vector<float> scales;
  for (float s : weight_scales) scales.push_back(activation_scale * s);
  std::vector<int32_t> codes(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double code = std::nearbyint(static_cast<double>(values[i]) / scales[per_channel ? i : 0]);
    if (!(std::fabs(code) <= std::numeric_limits<int32_t>::max())) {
      keep_float(fmt::format("value {} at scale {} is beyond int32", values[i], scales[per_channel ? i : 0]));
      return;
    }
    codes[i] = static_cast<int32_t>(code);
  }
  std::string key(reinterpret_cast<const char*>(scales.data()), scales.size() * sizeof(float));
  auto [entry, added] = rewrite.biases.try_emplace({bias_name, key}, "");
  if (added) {
    const std::string base = bias_name + "_int32";
    const std::string quantized = rewrite.names.allocate(base);
    const std::string scale = rewrite.names.allocate(base + "_scale");
    entry->second = rewrite.names.allocate(base + "_dequantized");
    std::vector<uint8_t> bytes(codes.size() * sizeof(int32_t));
    std::memcpy(bytes.data(), codes.data(), bytes.size());
    rewrite.edits.add_initializer(rewrite.graph, io::make_tensor(quantized, onnx::TensorProto::INT32,
                                                                 io::dims_of(*bias), bytes));
    const std::vector<int64_t> scale_dims = per_channel ? std::vector<int64_t>{bias->dims(0)} : std::vector<int64_t>{};
    rewrite.edits.add_initializer(rewrite.graph, io::make_float_tensor(scale, scale_dims, scales));
    onnx::NodeProto dequantize = make_node("DequantizeLinear", "", rewrite.names.allocate(base + "_DequantizeLinear"),
                                           {quantized, scale}, {entry->second});
    if (per_channel) set_int_attribute(dequantize, "axis", 0);
    rewrite.edits.prepend_node(rewrite.graph, std::move(dequantize));
  }
  node.set_input(kBiasInput, entry->second);
}

// Removes float biases (initializers or Constant nodes) that no node of any graph reads any more.
void drop_unread_initializers(onnx::ModelProto& model, const std::set<std::string>& names) {
  std::set<std::string> read;
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& node : graph.node()) read.insert(node.input().begin(), node.input().end());
  });
  for (const auto& output : model.graph().output()) read.insert(output.name());
  auto unread = [&](const std::string& name) { return names.count(name) > 0 && read.count(name) == 0; };
  auto* initializers = model.mutable_graph()->mutable_initializer();
  for (int i = initializers->size() - 1; i >= 0; --i) {
    if (unread(initializers->Get(i).name())) initializers->DeleteSubrange(i, 1);
  }
  auto* nodes = model.mutable_graph()->mutable_node();
  for (int i = nodes->size() - 1; i >= 0; --i) {
    const onnx::NodeProto& node = nodes->Get(i);
    if (node.op_type() == "Constant" && node.output_size() == 1 && unread(node.output(0))) nodes->DeleteSubrange(i, 1);
  }
}

}  // namespace

ActivationReport describe_activation(const std::string& name, const ActivationData& data,
                                     const QuantizeOptions& options) {
  ActivationReport entry;
  entry.name = name;
  entry.values = data.values.size();
  entry.non_finite_values = data.non_finite;
  const kernels::ValueRange observed = kernels::minmax_range(data.values);
  const kernels::ValueRange range = choose_range(data, options);
  entry.observed_min = observed.min;
  entry.observed_max = observed.max;
  entry.range_min = range.min;
  entry.range_max = range.max;
  return entry;
}

void quantize_activations(onnx::ModelProto& model, const Calibration& calibration, const QuantizeOptions& options,
                          graph::NameAllocator& names, Report& report) {
  onnx::GraphProto& graph = *model.mutable_graph();
  std::map<std::string, const onnx::NodeProto*> producers;
  for (const auto& node : graph.node()) {
    for (const auto& output : node.output()) producers[output] = &node;
  }
  // Activation name -> the nodes that read it with a quantized weight, in graph order.
  std::map<std::string, std::vector<std::pair<onnx::NodeProto*, const onnx::NodeProto*>>> consumers;
  for (auto& node : *graph.mutable_node()) {
    const onnx::NodeProto* dequantizer = weight_dequantizer(node, producers);
    if (dequantizer != nullptr) consumers[node.input(kActivationInput)].emplace_back(&node, dequantizer);
  }

  GraphEdits edits;
  Rewrite rewrite{graph, edits, names, report, graph::opset_version(model, "")};
  std::set<std::string> float_biases;
  for (const auto& [name, data] : calibration.activations) {
    ActivationReport entry = describe_activation(name, data, options);
    const kernels::ValueRange range{entry.range_min, entry.range_max};
    const auto found = consumers.find(name);
    if (found != consumers.end() && data.dtype != onnx::TensorProto::FLOAT) {
      report.notes.push_back(fmt::format("activation '{}' stays float: QuantizeLinear here needs float32 input", name));
    } else if (found != consumers.end()) {
      const kernels::Uint8Params params = kernels::uint8_params(range);
      entry.scale = params.scale;
      entry.zero_point = params.zero_point;
      const std::string scale = names.allocate(name + "_scale");
      const std::string zero_point = names.allocate(name + "_zero_point");
      const std::string quantized = names.allocate(name + "_quantized");
      const std::string dequantized = names.allocate(name + "_dequantized");
      edits.add_initializer(graph, io::make_float_tensor(scale, {}, std::vector<float>{params.scale}));
      edits.add_initializer(graph, io::make_tensor(zero_point, onnx::TensorProto::UINT8, {},
                                                   std::vector<uint8_t>{params.zero_point}));
      const onnx::NodeProto& anchor = *found->second.front().first;
      edits.insert_before(graph, anchor, make_node("QuantizeLinear", "", names.allocate(name + "_QuantizeLinear"),
                                                   {name, scale, zero_point}, {quantized}));
      edits.insert_before(graph, anchor, make_node("DequantizeLinear", "", names.allocate(name + "_DequantizeLinear"),
                                                   {quantized, scale, zero_point}, {dequantized}));
      for (auto& [node, dequantizer] : found->second) {
        node->set_input(kActivationInput, dequantized);
        entry.nodes.push_back(node->name());
        if (node->input_size() > kBiasInput && !node->input(kBiasInput).empty()) {
          float_biases.insert(node->input(kBiasInput));
        }
        quantize_bias(*node, params.scale, *dequantizer, rewrite);
      }
    }
    report.activations.push_back(std::move(entry));
  }
  edits.apply();
  drop_unread_initializers(model, float_biases);
}

}  // namespace onnxquant::passes
