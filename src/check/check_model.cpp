// `onnxquant check`: loads a model and collects every finding of the checks in onnxquant/check.hpp.
#include "onnxquant/check.hpp"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <set>

#include "check/quantization_checks.hpp"
#include "check/scope_values.hpp"
#include "graph/node_order.hpp"
#include "graph/opset.hpp"
#include "graph/shape_inference_guard.hpp"
#include "io/external_placeholders.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_store.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant {
namespace {

using io::quoted_name;

class GraphChecker {
 public:
  GraphChecker(const onnx::ModelProto& model, const io::TensorStore& store, std::vector<std::string>& findings)
      : store_(store), findings_(findings) {
    for (const auto& entry : model.opset_import()) {
      imported_domains_.insert(entry.domain() == "ai.onnx" ? std::string() : entry.domain());
    }
    for (const auto& function : model.functions()) imported_domains_.insert(function.domain());
  }

  void visit(const onnx::GraphProto& graph, const std::string& where, const check::ScopeValues* parent) {
    const check::ScopeValues scope(graph, parent);
    check_shadowing(graph, where, scope);
    check_order(graph, where);
    for (const auto& node : graph.node()) {
      check_domain(node, where);
      check::check_quantization_node(node, scope, store_, where, findings_);
      const std::string node_scope = where + "/" + (node.name().empty() ? node.op_type() : node.name());
      for (const auto& attribute : node.attribute()) {
        if (attribute.has_g()) visit(attribute.g(), node_scope + "/" + attribute.name(), &scope);
        for (int i = 0; i < attribute.graphs_size(); ++i) {
          visit(attribute.graphs(i), fmt::format("{}/{}[{}]", node_scope, attribute.name(), i), &scope);
        }
      }
    }
  }

 private:
  // A value that an enclosing graph already defines must not be defined again in a subgraph.
  void check_shadowing(const onnx::GraphProto& graph, const std::string& where, const check::ScopeValues& scope) {
    auto check = [&](const std::string& name) {
      if (!name.empty() && scope.defined_outside(name)) {
        findings_.push_back(fmt::format("{} defines {} again, which an enclosing graph already defines; value names "
                                        "must be unique across graph scopes",
                                        quoted_name(where), quoted_name(name)));
      }
    };
    for (const auto& value : graph.input()) check(value.name());
    for (const auto& tensor : graph.initializer()) check(tensor.name());
    for (const auto& node : graph.node()) {
      for (const auto& output : node.output()) check(output);
    }
  }

  void check_order(const onnx::GraphProto& graph, const std::string& where) {
    const graph::OrderViolation violation = graph::first_order_violation(graph::node_dependencies(graph));
    if (violation.reader < 0) return;
    findings_.push_back(fmt::format("the nodes of {} are not in topological order: {} reads the output of {}, which "
                                    "comes at or after it",
                                    quoted_name(where), graph::describe_node(graph.node(violation.reader)),
                                    graph::describe_node(graph.node(violation.producer))));
  }

  void check_domain(const onnx::NodeProto& node, const std::string& where) {
    const std::string domain = node.domain() == "ai.onnx" ? std::string() : node.domain();
    if (imported_domains_.count(domain) > 0) return;
    findings_.push_back(fmt::format("{} in {} uses domain {}, which the model's opset imports do not include",
                                    graph::describe_node(node), quoted_name(where),
                                    quoted_name(domain.empty() ? "ai.onnx" : domain)));
  }

  const io::TensorStore& store_;
  std::vector<std::string>& findings_;
  std::set<std::string> imported_domains_;
};

// Runs the ONNX checker and shape inference, which reports a value_info type that contradicts the
// inferred one. Runs only where the linked ONNX library supports the model's opset and IR version.
void check_with_onnx(const onnx::ModelProto& model, std::vector<std::string>& findings) {
  if (graph::opset_version(model, "") > graph::checker_max_opset() ||
      model.ir_version() > graph::checker_max_ir_version()) {
    return;
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& error) {
    findings.push_back(fmt::format("the ONNX checker rejects the model: {}", error.what()));
  }
  std::string reason;
  if (!graph::safe_for_shape_inference(model, reason)) {
    findings.push_back(fmt::format("ONNX shape inference was not run, because {}", reason));
    return;
  }
  try {
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type_val=*/true, /*strict_mode_val=*/0));
  } catch (const std::exception& error) {
    findings.push_back(fmt::format("ONNX shape inference disagrees with the model: {}", error.what()));
  }
}

// Messages of the ONNX library span lines; a finding is one line.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

std::vector<std::string> check_model_file(const std::filesystem::path& path) {
  LoadOptions options;
  options.external_data = ExternalDataLoading::kMap;
  Model model = load_model(path, options);
  model.store->read_small_tensors(model.proto);
  std::vector<std::string> findings;
  GraphChecker(model.proto, *model.store, findings).visit(model.proto.graph(), "main", nullptr);
  // The ONNX checker looks for external files relative to the working folder, so the external
  // tensors that remain get placeholders. Shape inference reads the data of small tensors only.
  const io::ExternalPlaceholders placeholders(model.proto);
  check_with_onnx(model.proto, findings);
  for (auto& finding : findings) finding = one_line(std::move(finding));
  return findings;
}

}  // namespace onnxquant
