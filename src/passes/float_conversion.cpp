#include "passes/float_conversion.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <onnx/defs/data_type_utils.h>
#include <onnx/defs/schema.h>
#include <set>
#include <spdlog/spdlog.h>

#include "graph/graph_walk.hpp"
#include "graph/names.hpp"
#include "graph/opset.hpp"
#include "graph/value_types.hpp"
#include "graph/weights.hpp"
#include "io/external_data.hpp"
#include "io/tensor_data.hpp"
#include "passes/candidates.hpp"
#include "passes/float_tensors.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {
namespace {

using onnx::TensorProto;
constexpr int32_t kFloat = TensorProto::FLOAT;

bool is_default_domain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

bool is_control_flow(const onnx::NodeProto& node) {
  return node.op_type() == "If" || node.op_type() == "Loop" || node.op_type() == "Scan";
}

const char* type_suffix(int32_t type) {
  switch (type) {
    case TensorProto::FLOAT16: return "fp16";
    case TensorProto::BFLOAT16: return "bf16";
    default: return "fp32";
  }
}

// The formal parameter of input or output `index`, following a variadic last parameter.
const onnx::OpSchema::FormalParameter* parameter(const std::vector<onnx::OpSchema::FormalParameter>& parameters,
                                                 int index) {
  if (index < static_cast<int>(parameters.size())) return &parameters[index];
  if (!parameters.empty() && parameters.back().GetOption() == onnx::OpSchema::Variadic) return &parameters.back();
  return nullptr;
}

bool allows_type(const onnx::OpSchema::FormalParameter* formal, int32_t type) {
  if (formal == nullptr) return false;
  const std::string type_string = type == TensorProto::FLOAT16 ? "tensor(float16)" : "tensor(bfloat16)";
  return formal->GetTypes().count(onnx::Utils::DataTypeUtils::ToType(type_string)) > 0;
}

// Inputs that stay float32 in a float16 node although the schema allows float16. Pow's exponent:
// ONNX Runtime 1.23.2 fails to initialize a session at the default optimization level when its
// layer-norm fusion meets a float16 exponent.
bool keeps_float_input(const onnx::NodeProto& node, int index) { return node.op_type() == "Pow" && index == 1; }

int64_t attribute_int(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == name) return attribute.i();
  }
  return fallback;
}

class FloatConverter {
 public:
  FloatConverter(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options, int32_t target,
                 Report& report)
      : model_(model), store_(store), options_(options), target_(target), report_(report), names_(model) {
    keep_ops_.insert(std::begin(kDefaultKeepFp32Ops), std::end(kDefaultKeepFp32Ops));
    keep_ops_.insert(options.keep_fp32_ops.begin(), options.keep_fp32_ops.end());
    keep_nodes_.insert(options.keep_fp32_nodes.begin(), options.keep_fp32_nodes.end());
  }

  void run() {
    original_ = graph::infer_value_types(model_);
    after_ = original_;
    opset_ = graph::opset_version(model_, "");

    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
      for (auto& node : *graph.mutable_node()) decide_node(node);
    });
    if (options_.convert_io) convert_main_io();
    convert_weights();

    bool is_main = true;
    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
      fix_graph_outputs(graph, is_main);
      is_main = false;
    });
    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
      insert_casts(graph);
      update_value_info(graph);
    });
    spdlog::info("{} of {} nodes compute in {}; the others stay float32", converted_count_, node_count_,
                 io::dtype_name(target_));
  }

 private:
  // Decides whether a node computes in the target type, and updates the types of its outputs.
  void decide_node(onnx::NodeProto& node) {
    ++node_count_;
    if (!is_converted_candidate(node)) return;
    converted_.insert(&node);
    ++converted_count_;

    if (node.op_type() == "Cast") {
      for (auto& attribute : *node.mutable_attribute()) {
        if (attribute.name() == "to") attribute.set_i(target_);
      }
    } else if (node.op_type() == "ConstantOfShape") {
      convert_constant_of_shape(node);
    }
    for (const auto& output : node.output()) {
      if (graph::type_of(original_, output) == kFloat) after_[output] = target_;
    }
  }

  bool is_converted_candidate(const onnx::NodeProto& node) const {
    if (target_ != TensorProto::FLOAT16) return false;
    if (!is_default_domain(node) || is_control_flow(node) || node.op_type() == "Constant") return false;
    if (keep_ops_.count(node.op_type()) > 0 || keep_nodes_.count(node.name()) > 0) return false;
    if (node.op_type() == "Cast") return attribute_int(node, "to", 0) == kFloat;

    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(opset_), "");
    if (schema == nullptr) return false;
    bool touches_float = false;
    for (int i = 0; i < node.output_size(); ++i) {
      if (graph::type_of(original_, node.output(i)) != kFloat) continue;
      touches_float = true;
      if (!allows_type(parameter(schema->outputs(), i), target_)) return false;
    }
    for (int i = 0; i < node.input_size(); ++i) {
      if (graph::type_of(original_, node.input(i)) == kFloat) touches_float = true;
    }
    return touches_float || node.op_type() == "ConstantOfShape";
  }

  void convert_constant_of_shape(onnx::NodeProto& node) {
    for (auto& attribute : *node.mutable_attribute()) {
      if (attribute.name() != "value") continue;
      if (attribute.t().data_type() == kFloat) {
        TensorReport unused;
        convert_tensor_data(*attribute.mutable_t(), target_, unused, store_, nullptr, kernel_threads(options_));
      }
      return;
    }
    // Without a value attribute ConstantOfShape returns float32 zeros; give it a target-typed zero.
    auto* attribute = node.add_attribute();
    attribute->set_name("value");
    attribute->set_type(onnx::AttributeProto::TENSOR);
    *attribute->mutable_t() = io::make_tensor("", target_, {1}, std::vector<uint8_t>{0, 0});
  }

  void convert_main_io() {
    auto* graph = model_.mutable_graph();
    for (auto* values : {graph->mutable_input(), graph->mutable_output()}) {
      for (auto& value : *values) {
        if (!value.type().has_tensor_type() || value.type().tensor_type().elem_type() != kFloat) continue;
        value.mutable_type()->mutable_tensor_type()->set_elem_type(target_);
        after_[value.name()] = target_;
        io_names_.insert(value.name());
      }
    }
  }

  // The type that input `index` of `node` must have, given the value's original type.
  int32_t required_type(const onnx::NodeProto& node, int index, int32_t original) const {
    // The Casts this pass adds at graph outputs read whatever type their input has.
    if (node.op_type() == "Cast" && boundary_casts_.count(node.name()) > 0) return graph::type_of(after_, node.input(index));
    if (original != kFloat || converted_.count(&node) == 0) return original;
    if (node.op_type() == "Cast") return graph::type_of(after_, node.input(index));
    if (keeps_float_input(node, index)) return kFloat;
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(opset_), "");
    return allows_type(parameter(schema->inputs(), index), target_) ? target_ : kFloat;
  }

  void convert_weights() {
    std::vector<graph::Weight> weights = graph::index_weights(model_);
    for (auto& weight : weights) {
      if (weight.tensor->data_type() != kFloat) continue;
      if (auto reason = keep_reason(weight)) {
        if (!weight.uses.empty()) report_.skipped.push_back(make_skipped(weight, *reason));
        continue;
      }
      TensorReport entry = make_tensor_report(weight);
      const bool external = io::is_external(*weight.tensor);
      convert_tensor_data(*weight.tensor, target_, entry, store_, &store_, kernel_threads(options_));
      if (external) store_.move_to_output(*weight.tensor);
      if (entry.saturated_values > 0) note_saturation(entry);
      after_[weight.name] = target_;
      report_.tensors.push_back(std::move(entry));
    }
  }

  // Explains the saturated values of a converted weight, which dominate its SQNR and maximum error.
  // Attention masks filled with the lowest float32 are the common case, and there the saturated
  // values still act as minus infinity.
  void note_saturation(const TensorReport& entry) {
    report_.notes.push_back(fmt::format(
        "'{}': {} finite values beyond the {} range became its largest finite value with their sign; they "
        "set this tensor's SQNR and maximum error (values like -3.4e38 in attention masks still mask)",
        entry.name, entry.saturated_values, io::dtype_name(target_)));
    spdlog::info("{}", report_.notes.back());
  }

  // Returns the reason a float32 weight keeps its type, or nothing when it is stored in the target type.
  std::optional<std::string> keep_reason(const graph::Weight& weight) const {
    if (weight.is_graph_input) return std::string("also a graph input, whose type the caller relies on");
    if (weight.is_graph_output) return std::string("also a graph output, whose type the caller relies on");
    bool needed_in_target = false;
    for (const auto& use : weight.uses) {
      if (use.node->op_type() == "Cast" && converted_.count(use.node) > 0) continue;  // accepts any type
      const int32_t required = required_type(*use.node, use.input_index, kFloat);
      if (required == target_) {
        needed_in_target = true;
      } else if (converted_.count(use.node) > 0) {
        return fmt::format("node '{}' ({}) requires float32 for input {}", use.node->name(), use.node->op_type(),
                           use.input_index);
      }
    }
    if (!needed_in_target && io::element_count(*weight.tensor) < static_cast<uint64_t>(options_.min_elements)) {
      return fmt::format("read only by float32 nodes and smaller than --min-elements {}", options_.min_elements);
    }
    return std::nullopt;
  }

  // Makes every graph output keep its required type, adding a Cast where the producer changed it.
  void fix_graph_outputs(onnx::GraphProto& graph, bool is_main) {
    for (auto& output : *graph.mutable_output()) {
      const int32_t original = graph::type_of(original_, output.name());
      const int32_t required = (is_main && io_names_.count(output.name()) > 0) ? target_ : original;
      const int32_t current = graph::type_of(after_, output.name());
      if (!io::is_float_type(current) || current == required) continue;

      const std::string internal = names_.allocate(output.name() + "_" + type_suffix(current));
      onnx::NodeProto* producer = find_producer(graph, output.name());
      if (producer != nullptr) {
        // The producer and its readers move to the internal name; the Cast restores the output name.
        rename_value(graph, output.name(), internal);
        add_cast(graph, internal, output.name(), required, /*at_end=*/true);
      } else {
        // A subgraph returning an outer value: its outputs are positional, so the entry is renamed.
        add_cast(graph, output.name(), internal, required, /*at_end=*/true);
        output.set_name(internal);
      }
      after_[internal] = producer != nullptr ? current : required;
      original_[internal] = original;
      after_[output.name()] = required;
    }
  }

  static onnx::NodeProto* find_producer(onnx::GraphProto& graph, const std::string& name) {
    for (auto& node : *graph.mutable_node()) {
      for (const auto& output : node.output()) {
        if (output == name) return &node;
      }
    }
    return nullptr;
  }

  // Renames a value produced in `graph` in its producer and in every reader, subgraphs included.
  static void rename_value(onnx::GraphProto& graph, const std::string& from, const std::string& to) {
    graph::for_each_graph(graph, "", [&](onnx::GraphProto& scope, const std::string&) {
      for (auto& node : *scope.mutable_node()) {
        for (auto& name : *node.mutable_input()) {
          if (name == from) name = to;
        }
        for (auto& name : *node.mutable_output()) {
          if (name == from) name = to;
        }
      }
      if (&scope == &graph) return;
      for (auto& output : *scope.mutable_output()) {
        if (output.name() == from) output.set_name(to);
      }
    });
  }

  void add_cast(onnx::GraphProto& graph, const std::string& input, const std::string& output, int32_t to,
                bool at_end) {
    onnx::NodeProto cast = make_node("Cast", "", names_.allocate(output + "_Cast"), {input}, {output});
    set_int_attribute(cast, "to", to);
    if (at_end) {
      boundary_casts_.insert(cast.name());
      *graph.add_node() = std::move(cast);
    } else {
      pending_casts_.push_back(std::move(cast));
    }
  }

  // Inserts Casts in front of every node whose input type differs from what it requires.
  void insert_casts(onnx::GraphProto& graph) {
    std::map<std::pair<std::string, int32_t>, std::string> cast_outputs;
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (auto& node : *graph.mutable_node()) {
      for (int i = 0; i < node.input_size(); ++i) {
        const std::string& name = node.input(i);
        const int32_t original = graph::type_of(original_, name);
        if (name.empty() || !io::is_float_type(original)) continue;
        const int32_t current = graph::type_of(after_, name);
        const int32_t required = required_type(node, i, original);
        if (current == required || !io::is_float_type(current)) continue;

        auto [it, inserted] = cast_outputs.try_emplace({name, required});
        if (inserted) {
          it->second = names_.allocate(name + "_to_" + type_suffix(required));
          add_cast(graph, name, it->second, required, /*at_end=*/false);
          after_[it->second] = required;
          original_[it->second] = original;
        }
        node.set_input(i, it->second);
      }
      for (auto& cast : pending_casts_) nodes.Add()->Swap(&cast);
      pending_casts_.clear();
      nodes.Add()->Swap(&node);
    }
    graph.mutable_node()->Swap(&nodes);
  }

  void update_value_info(onnx::GraphProto& graph) {
    for (auto& value : *graph.mutable_value_info()) {
      const int32_t current = graph::type_of(after_, value.name());
      if (value.type().has_tensor_type() && io::is_float_type(current)) {
        value.mutable_type()->mutable_tensor_type()->set_elem_type(current);
      }
    }
  }

  onnx::ModelProto& model_;
  io::TensorStore& store_;
  const QuantizeOptions& options_;
  int32_t target_;
  Report& report_;
  graph::NameAllocator names_;
  int64_t opset_ = 0;
  graph::ValueTypes original_;
  graph::ValueTypes after_;
  std::set<const onnx::NodeProto*> converted_;
  std::set<std::string> keep_ops_;
  std::set<std::string> keep_nodes_;
  std::set<std::string> io_names_;
  std::set<std::string> boundary_casts_;
  std::vector<onnx::NodeProto> pending_casts_;
  int node_count_ = 0;
  int converted_count_ = 0;
};

}  // namespace

void convert_float_model(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options,
                         int32_t target, Report& report) {
  FloatConverter(model, store, options, target, report).run();
}

}  // namespace onnxquant::passes
