#include "eval/graph_program.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <unordered_set>

#include "graph/node_order.hpp"
#include "graph/opset.hpp"
#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

std::string domain_name(const std::string& domain) { return domain.empty() ? "ai.onnx" : domain; }

// The since_version that applies at `opset`: the newest version not above it, or 0 when the
// operator did not exist yet.
int applicable_version(std::span<const int> versions, int64_t opset) {
  int version = 0;
  for (int candidate : versions) {
    if (candidate <= opset) version = std::max(version, candidate);
  }
  return version;
}

// Operators that ONNX Runtime defines in the default domain with version 1: one that ai.onnx does
// not define, and LayerNormalization, which ai.onnx added only at opset 17.
bool is_runtime_default_domain_op(const std::string& op_type) {
  return op_type == "SimplifiedLayerNormalization" || op_type == "LayerNormalization";
}

// Adds a finding and returns nullptr, so that callers can write `return reject(...)`.
const OperatorSpec* reject(std::vector<std::string>& findings, const onnx::NodeProto& node, const std::string& reason) {
  findings.push_back(fmt::format("{}: {}", graph::describe_node(node), reason));
  return nullptr;
}

}  // namespace

const OperatorSpec* resolve_operator(const onnx::NodeProto& node, const OpsetVersions& opsets, int& version,
                                     std::vector<std::string>& findings) {
  const std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  const auto opset = opsets.find(domain);
  if (opset == opsets.end()) {
    return reject(findings, node, fmt::format("the model does not import the domain {}", domain_name(domain)));
  }
  const OperatorSpec* spec = operator_table().find(domain, node.op_type());
  if (domain.empty()) {
    if (opset->second > max_known_onnx_opset()) {
      return reject(findings, node, fmt::format("ai.onnx opset {} is newer than the evaluator knows (up to {})",
                                                opset->second, max_known_onnx_opset()));
    }
    version = applicable_version(onnx_operator_versions(node.op_type()), opset->second);
    if (version == 0 && is_runtime_default_domain_op(node.op_type())) version = 1;
    if (version == 0) {
      return reject(findings, node, fmt::format("ai.onnx opset {} has no operator {}", opset->second,
                                                io::quoted_name(node.op_type())));
    }
  } else {
    // Contrib operators of com.microsoft have one version, 1.
    version = 1;
  }
  if (spec == nullptr) {
    return reject(findings, node, fmt::format("the operator {}.{} is not supported by the evaluator", domain_name(domain),
                                              node.op_type()));
  }
  if (version < spec->min_version) {
    return reject(findings, node, fmt::format("version {} of {} (opset {}) is not supported; the evaluator implements "
                                              "version {} and later",
                                              version, node.op_type(), opset->second, spec->min_version));
  }
  for (const auto& attribute : node.attribute()) {
    if (std::find(spec->attributes.begin(), spec->attributes.end(), attribute.name()) == spec->attributes.end()) {
      return reject(findings, node, fmt::format("attribute {} of {} is not implemented", io::quoted_name(attribute.name()),
                                                node.op_type()));
    }
  }
  if (spec->check != nullptr) {
    try {
      spec->check(node, NodeAttributes(node), version);
    } catch (const Error& error) {
      return reject(findings, node, error.what());
    }
  }
  return spec;
}

GraphProgram::GraphProgram(const onnx::GraphProto& graph, const OpsetVersions& opsets,
                           const std::unordered_map<std::string, int>& outer_names, std::vector<std::string>& findings)
    : graph_(graph) {
  if (graph.sparse_initializer_size() > 0) {
    findings.push_back(fmt::format("graph {} has sparse initializers, which the evaluator does not support",
                                   io::quoted_name(graph.name())));
  }
  for (const auto& input : graph.input()) input_slots_.push_back(add_slot(input.name()));
  add_constants(findings);
  add_steps(opsets, outer_names, findings);
  for (const auto& output : graph.output()) {
    const int slot = find_slot(output.name());
    if (slot >= 0) {
      output_slots_.push_back(slot);
    } else if (outer_names.count(output.name()) > 0) {
      output_slots_.push_back(add_slot(output.name()));
      outer_slots_.push_back(output_slots_.back());
    } else {
      findings.push_back(fmt::format("graph output {} is not produced by any node, input or initializer",
                                     io::quoted_name(output.name())));
    }
  }
  compute_releases();
}

int GraphProgram::add_slot(const std::string& name) {
  const auto [it, inserted] = slots_.emplace(name, static_cast<int>(slot_names_.size()));
  if (inserted) slot_names_.push_back(name);
  return it->second;
}

int GraphProgram::find_slot(const std::string& name) const {
  const auto it = slots_.find(name);
  return it == slots_.end() ? -1 : it->second;
}

void GraphProgram::add_constants(std::vector<std::string>& findings) {
  for (const auto& initializer : graph_.initializer()) {
    try {
      constants_.emplace_back(add_slot(initializer.name()), std::make_shared<const Tensor>(tensor_from_proto(initializer)));
    } catch (const Error& error) {
      findings.push_back(fmt::format("initializer {}: {}", io::quoted_name(initializer.name()), error.what()));
    }
  }
}

void GraphProgram::add_steps(const OpsetVersions& opsets, const std::unordered_map<std::string, int>& outer_names,
                             std::vector<std::string>& findings) {
  const std::vector<int> order = graph::topological_order(graph::node_dependencies(graph_));
  if (order.empty() && graph_.node_size() > 0) {
    findings.push_back(fmt::format("the nodes of graph {} form a cycle", io::quoted_name(graph_.name())));
    return;
  }

  // Names this graph defines, so that every other name a node reads must come from outside.
  std::unordered_set<std::string> defined(slot_names_.begin(), slot_names_.end());
  for (const auto& node : graph_.node()) defined.insert(node.output().begin(), node.output().end());
  auto slot_for_read = [&](const std::string& name, const onnx::NodeProto& node) {
    if (defined.count(name) == 0) {
      if (outer_names.count(name) == 0) {
        findings.push_back(fmt::format("{}: input {} is not defined", graph::describe_node(node), io::quoted_name(name)));
        return -1;
      }
      if (find_slot(name) < 0) outer_slots_.push_back(add_slot(name));
    }
    return add_slot(name);
  };

  for (int index : order) {
    const onnx::NodeProto& node = graph_.node(index);
    NodeStep step;
    step.node = &node;
    step.spec = resolve_operator(node, opsets, step.version, findings);
    for (const auto& input : node.input()) step.inputs.push_back(input.empty() ? -1 : slot_for_read(input, node));
    for (const auto& output : node.output()) step.outputs.push_back(output.empty() ? -1 : add_slot(output));
    // Values that subgraphs read from this graph or from further out need slots here too.
    for (const auto& name : graph::outer_values_read(node)) {
      if (defined.count(name) == 0 && outer_names.count(name) > 0 && find_slot(name) < 0) {
        outer_slots_.push_back(add_slot(name));
      }
    }
    add_subprograms(node, opsets, findings);
    steps_.push_back(std::move(step));
  }
}

void GraphProgram::add_subprograms(const onnx::NodeProto& node, const OpsetVersions& opsets,
                                   std::vector<std::string>& findings) {
  const bool has_subgraphs = std::any_of(node.attribute().begin(), node.attribute().end(), [](const auto& attribute) {
    return attribute.has_g() || attribute.graphs_size() > 0;
  });
  if (!has_subgraphs) return;
  std::unordered_map<std::string, int> visible;
  for (size_t slot = 0; slot < slot_names_.size(); ++slot) visible.emplace(slot_names_[slot], static_cast<int>(slot));
  // Every value of this graph is visible to the subgraph, including the outputs of later nodes. The
  // dependency order guarantees that the values a subgraph reads exist when it runs.
  for (const auto& other : graph_.node()) {
    for (const auto& output : other.output()) visible.emplace(output, 0);
  }
  for (const auto& attribute : node.attribute()) {
    auto add = [&](const onnx::GraphProto& subgraph) {
      std::unordered_map<std::string, int> outer = visible;
      subprograms_.emplace(&subgraph, std::make_unique<GraphProgram>(subgraph, opsets, outer, findings));
    };
    if (attribute.has_g()) add(attribute.g());
    for (const auto& subgraph : attribute.graphs()) add(subgraph);
  }
}

const GraphProgram& GraphProgram::subprogram(const onnx::GraphProto& graph) const {
  const auto it = subprograms_.find(&graph);
  if (it == subprograms_.end()) throw std::logic_error("subgraph was not prepared");
  return *it->second;
}

void GraphProgram::compute_releases() {
  std::vector<int> last_reader(slot_names_.size(), -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (int slot : steps_[i].inputs) {
      if (slot >= 0) last_reader[static_cast<size_t>(slot)] = static_cast<int>(i);
    }
    for (const auto& name : graph::outer_values_read(*steps_[i].node)) {
      const int slot = find_slot(name);
      if (slot >= 0) last_reader[static_cast<size_t>(slot)] = static_cast<int>(i);
    }
  }
  std::vector<bool> kept(slot_names_.size(), false);
  for (int slot : output_slots_) kept[static_cast<size_t>(slot)] = true;
  for (const auto& [slot, tensor] : constants_) kept[static_cast<size_t>(slot)] = true;
  for (int slot : outer_slots_) kept[static_cast<size_t>(slot)] = true;

  for (size_t i = 0; i < steps_.size(); ++i) {
    for (int slot : steps_[i].outputs) {
      // An output that no node reads is freed right after the step that made it.
      if (slot >= 0 && !kept[static_cast<size_t>(slot)] && last_reader[static_cast<size_t>(slot)] < static_cast<int>(i)) {
        steps_[i].release.push_back(slot);
      }
    }
  }
  for (size_t slot = 0; slot < slot_names_.size(); ++slot) {
    const int reader = last_reader[slot];
    if (reader >= 0 && !kept[slot]) steps_[static_cast<size_t>(reader)].release.push_back(static_cast<int>(slot));
  }
}

}  // namespace onnxquant::eval
