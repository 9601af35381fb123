#include "graph/opset_raise.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <string_view>
#include <vector>

#include "graph/graph_walk.hpp"
#include "graph/names.hpp"
#include "graph/opset.hpp"

namespace onnxquant::graph {
namespace {

// The highest opset that libonnx 1.12's version converter reaches.
constexpr int64_t kConverterMaxOpset = 17;

enum class Change {
  kCompatible,     // new types, or new attributes and inputs whose defaults keep the old behavior
  kAxesToInput,    // the `axes` attribute became the optional second input
  kSplitOutputs,   // `num_outputs` or the `split` input must be given
  kChangedMeaning  // existing attributes or inputs mean something else
};

struct OperatorChange {
  std::string_view op_type;
  int64_t opset;
  Change change;
};

// Operators of opsets 1 to 17 whose definitions changed in opsets 18 to 21, from the operator
// schemas of onnx 1.19.1 (onnx.defs, documented in onnx's docs/Changelog.md). Operators that
// opsets 18 to 21 introduce cannot occur in a model of an older opset and are not listed.
constexpr std::array kChanges = {
    OperatorChange{"ReduceL1", 18, Change::kAxesToInput},
    OperatorChange{"ReduceL2", 18, Change::kAxesToInput},
    OperatorChange{"ReduceLogSum", 18, Change::kAxesToInput},
    OperatorChange{"ReduceLogSumExp", 18, Change::kAxesToInput},
    OperatorChange{"ReduceMax", 18, Change::kAxesToInput},
    OperatorChange{"ReduceMean", 18, Change::kAxesToInput},
    OperatorChange{"ReduceMin", 18, Change::kAxesToInput},
    OperatorChange{"ReduceProd", 18, Change::kAxesToInput},
    OperatorChange{"ReduceSumSquare", 18, Change::kAxesToInput},
    OperatorChange{"Split", 18, Change::kSplitOutputs},
    // Pad 18 adds the optional `axes` input, 19 the `wrap` mode. Resize 18 adds `antialias`, `axes`
    // and `keep_aspect_ratio_policy`, 19 a coordinate transformation mode. ScatterElements and
    // ScatterND 18 add the `max` and `min` reductions. LpPool 18 adds `ceil_mode` and `dilations`,
    // AveragePool 19 `dilations`. Cast and CastLike 19 add `saturate`, which applies to float8 only.
    // The others listed gain types only (float8, int4, bfloat16, string).
    OperatorChange{"Pad", 18, Change::kCompatible},
    OperatorChange{"Resize", 18, Change::kCompatible},
    OperatorChange{"ScatterElements", 18, Change::kCompatible},
    OperatorChange{"ScatterND", 18, Change::kCompatible},
    OperatorChange{"LpPool", 18, Change::kCompatible},
    OperatorChange{"OptionalGetElement", 18, Change::kCompatible},
    OperatorChange{"OptionalHasElement", 18, Change::kCompatible},
    OperatorChange{"AveragePool", 19, Change::kCompatible},
    OperatorChange{"Cast", 19, Change::kCompatible},
    OperatorChange{"CastLike", 19, Change::kCompatible},
    OperatorChange{"Constant", 19, Change::kCompatible},
    OperatorChange{"DequantizeLinear", 19, Change::kCompatible},
    OperatorChange{"QuantizeLinear", 19, Change::kCompatible},
    OperatorChange{"Equal", 19, Change::kCompatible},
    OperatorChange{"Identity", 19, Change::kCompatible},
    OperatorChange{"If", 19, Change::kCompatible},
    OperatorChange{"Loop", 19, Change::kCompatible},
    OperatorChange{"Scan", 19, Change::kCompatible},
    OperatorChange{"Reshape", 19, Change::kCompatible},
    OperatorChange{"Shape", 19, Change::kCompatible},
    OperatorChange{"Size", 19, Change::kCompatible},
    OperatorChange{"ConstantOfShape", 20, Change::kCompatible},
    OperatorChange{"IsInf", 20, Change::kCompatible},
    OperatorChange{"IsNaN", 20, Change::kCompatible},
    OperatorChange{"ReduceMax", 20, Change::kCompatible},
    OperatorChange{"ReduceMin", 20, Change::kCompatible},
    OperatorChange{"Flatten", 21, Change::kCompatible},
    OperatorChange{"QLinearMatMul", 21, Change::kCompatible},
    OperatorChange{"Squeeze", 21, Change::kCompatible},
    OperatorChange{"Transpose", 21, Change::kCompatible},
    OperatorChange{"Unsqueeze", 21, Change::kCompatible},
    // GridSample 20 renames the modes `bilinear` and `bicubic` to `linear` and `cubic`. DFT 20 moves
    // `axis` from an attribute to an input with another default. GroupNormalization 21 takes scale
    // and bias per channel instead of per group.
    OperatorChange{"GridSample", 20, Change::kChangedMeaning},
    OperatorChange{"DFT", 20, Change::kChangedMeaning},
    OperatorChange{"GroupNormalization", 21, Change::kChangedMeaning},
};

bool is_default_domain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

// Whether `node` is affected by a change of kind `change` made after opset `from`.
bool changed_after(const onnx::NodeProto& node, int64_t from, Change change) {
  if (!is_default_domain(node)) return false;
  return std::any_of(kChanges.begin(), kChanges.end(), [&](const OperatorChange& entry) {
    return entry.op_type == node.op_type() && entry.opset > from && entry.change == change;
  });
}

std::string describe(const onnx::NodeProto& node) {
  return node.name().empty() ? fmt::format("an unnamed {} node", node.op_type())
                             : fmt::format("'{}' ({})", node.name(), node.op_type());
}

void move_axes_to_input(onnx::NodeProto& node, onnx::GraphProto& graph, NameAllocator& names) {
  auto* attributes = node.mutable_attribute();
  const auto axes = std::find_if(attributes->begin(), attributes->end(),
                                 [](const onnx::AttributeProto& attribute) { return attribute.name() == "axes"; });
  // Without `axes` both versions reduce over all axes (noop_with_empty_axes defaults to 0).
  if (axes == attributes->end()) return;

  onnx::TensorProto* tensor = graph.add_initializer();
  tensor->set_name(names.allocate((node.name().empty() ? node.op_type() : node.name()) + "_axes"));
  tensor->set_data_type(onnx::TensorProto::INT64);
  tensor->add_dims(axes->ints_size());
  for (int64_t axis : axes->ints()) tensor->add_int64_data(axis);
  attributes->erase(axes);
  // The opset 13 forms take only `data`, so `axes` becomes the second input.
  node.mutable_input()->DeleteSubrange(1, node.input_size() - 1);
  node.add_input(tensor->name());
}

void add_num_outputs(onnx::NodeProto& node) {
  const bool has_split = node.input_size() > 1 && !node.input(1).empty();
  const bool has_num_outputs = std::any_of(node.attribute().begin(), node.attribute().end(),
                                           [](const auto& attribute) { return attribute.name() == "num_outputs"; });
  if (has_split || has_num_outputs) return;
  // Opset 13 splits into equal parts, one per output; num_outputs states the same in opset 18.
  auto* attribute = node.add_attribute();
  attribute->set_name("num_outputs");
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(node.output_size());
}

void set_default_opset(onnx::ModelProto& model, int64_t version) {
  for (auto& entry : *model.mutable_opset_import()) {
    if (entry.domain().empty() || entry.domain() == "ai.onnx") entry.set_version(version);
  }
}

}  // namespace

bool raise_opset_to_21(onnx::ModelProto& model, std::string& error) {
  const int64_t from = opset_version(model, "");
  if (from >= kOpsetBlockedDequantize) {
    model.set_ir_version(std::max<int64_t>(model.ir_version(), kIrVersionInt4));
    return true;
  }

  std::vector<std::string> rejected;
  for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& node : graph.node()) {
      if (changed_after(node, from, Change::kChangedMeaning)) rejected.push_back(describe(node));
    }
  });
  if (!rejected.empty()) {
    error = fmt::format("{} changed meaning between opset {} and {}: {}", rejected.size() == 1 ? "an operator" : "operators",
                        from, kOpsetBlockedDequantize, fmt::join(rejected, ", "));
    return false;
  }

  if (from < kConverterMaxOpset && !convert_opset(model, kConverterMaxOpset, error)) return false;
  const int64_t converted = std::max(from, kConverterMaxOpset);

  NameAllocator names(model);
  for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (auto& node : *graph.mutable_node()) {
      if (changed_after(node, converted, Change::kAxesToInput)) move_axes_to_input(node, graph, names);
      if (changed_after(node, converted, Change::kSplitOutputs)) add_num_outputs(node);
    }
  });
  set_default_opset(model, kOpsetBlockedDequantize);
  model.set_ir_version(std::max<int64_t>(model.ir_version(), kIrVersionInt4));
  return true;
}

}  // namespace onnxquant::graph
