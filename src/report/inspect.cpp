#include "onnxquant/inspect.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

#include "graph/graph_walk.hpp"
#include "io/external_data.hpp"
#include "io/tensor_data.hpp"

namespace onnxquant {
namespace {

using nlohmann::json;

struct StoredTensor {
  std::string name;
  std::string scope;
  std::vector<int64_t> shape;
  std::string dtype;
  uint64_t bytes = 0;
  std::string storage;
};

std::string type_string(const onnx::TypeProto& type) {
  if (!type.has_tensor_type()) return type.has_sequence_type() ? "sequence" : "non-tensor";
  const auto& tensor = type.tensor_type();
  std::vector<std::string> dims;
  for (const auto& dim : tensor.shape().dim()) {
    dims.push_back(dim.has_dim_value() ? std::to_string(dim.dim_value())
                                       : (dim.dim_param().empty() ? "?" : dim.dim_param()));
  }
  const std::string shape = tensor.has_shape() ? fmt::format("[{}]", fmt::join(dims, ", ")) : "(unknown shape)";
  return fmt::format("{} {}", io::dtype_name(tensor.elem_type()), shape);
}

std::string storage_of(const onnx::TensorProto& tensor, bool constant_node) {
  std::string kind = constant_node ? "Constant node" : "initializer";
  if (!io::is_external(tensor)) return kind;
  const auto location = io::parse_external_data(tensor);
  return fmt::format("{}, external {} @ {}", kind, location.location, location.offset);
}

std::vector<StoredTensor> stored_tensors(onnx::ModelProto& model) {
  std::vector<StoredTensor> tensors;
  auto add = [&](const onnx::TensorProto& tensor, const std::string& name, const std::string& scope, bool constant) {
    tensors.push_back({name, scope, io::dims_of(tensor), io::dtype_name(tensor.data_type()), io::tensor_bytes(tensor),
                       storage_of(tensor, constant)});
  };
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string& scope) {
    for (const auto& tensor : graph.initializer()) add(tensor, tensor.name(), scope, false);
    for (auto& node : *graph.mutable_node()) {
      if (const auto* tensor = graph::constant_value(node)) add(*tensor, node.output(0), scope, true);
    }
  });
  return tensors;
}

std::map<std::string, int> op_counts(onnx::ModelProto& model) {
  std::map<std::string, int> counts;
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& node : graph.node()) {
      const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
      ++counts[default_domain ? node.op_type() : node.domain() + "." + node.op_type()];
    }
  });
  return counts;
}

json values_json(const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& values) {
  json list = json::array();
  for (const auto& value : values) list.push_back({{"name", value.name()}, {"type", type_string(value.type())}});
  return list;
}

json build_json(Model& model) {
  const auto& proto = model.proto;
  json opsets = json::object();
  for (const auto& entry : proto.opset_import()) opsets[entry.domain().empty() ? "ai.onnx" : entry.domain()] = entry.version();

  json weights = json::array();
  uint64_t total_bytes = 0;
  uint64_t external_bytes = 0;
  for (const auto& tensor : stored_tensors(model.proto)) {
    total_bytes += tensor.bytes;
    if (tensor.storage.find("external") != std::string::npos) external_bytes += tensor.bytes;
    weights.push_back({{"name", tensor.name}, {"scope", tensor.scope}, {"shape", tensor.shape},
                       {"dtype", tensor.dtype}, {"bytes", tensor.bytes}, {"storage", tensor.storage}});
  }
  return {
      {"path", model.path.string()},
      {"ir_version", proto.ir_version()},
      {"producer", proto.producer_name() + (proto.producer_version().empty() ? "" : " " + proto.producer_version())},
      {"opset_imports", opsets},
      {"op_types", op_counts(model.proto)},
      {"inputs", values_json(proto.graph().input())},
      {"outputs", values_json(proto.graph().output())},
      {"weights", weights},
      {"totals",
       {{"weights", weights.size()},
        {"weight_bytes", total_bytes},
        {"external_bytes", external_bytes},
        {"file_bytes", model.total_bytes}}},
  };
}

}  // namespace

// Names from the model need not be valid UTF-8, so invalid bytes become U+FFFD instead of failing the dump.
std::string inspect_json(Model& model) {
  return build_json(model).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string inspect_text(Model& model) {
  const json info = build_json(model);
  std::string out = fmt::format("model        {}\n", info["path"].get<std::string>());
  out += fmt::format("IR version   {}\n", info["ir_version"].get<int64_t>());
  out += fmt::format("producer     {}\n", info["producer"].get<std::string>());
  out += "opsets      ";
  for (const auto& [domain, version] : info["opset_imports"].items()) out += fmt::format(" {} {},", domain, version.get<int64_t>());
  out.back() = '\n';

  out += "\nOperators\n";
  for (const auto& [op, count] : info["op_types"].items()) out += fmt::format("  {:<36} {}\n", op, count.get<int>());
  out += "\nInputs\n";
  for (const auto& value : info["inputs"]) out += fmt::format("  {:<36} {}\n", value["name"].get<std::string>(), value["type"].get<std::string>());
  out += "\nOutputs\n";
  for (const auto& value : info["outputs"]) out += fmt::format("  {:<36} {}\n", value["name"].get<std::string>(), value["type"].get<std::string>());

  // The name column fits the longest name, so long subgraph weight names keep the columns aligned.
  size_t name_width = 4;
  for (const auto& weight : info["weights"]) name_width = std::max(name_width, weight["name"].get<std::string>().size());
  out += fmt::format("\nWeights\n  {:<{}} {:<20} {:<9} {:>12}  {}\n", "name", name_width, "shape", "dtype", "bytes",
                     "storage");
  for (const auto& weight : info["weights"]) {
    std::string storage = weight["storage"].get<std::string>();
    if (weight["scope"] != "main") storage += ", in " + weight["scope"].get<std::string>();
    out += fmt::format("  {:<{}} {:<20} {:<9} {:>12}  {}\n", weight["name"].get<std::string>(), name_width,
                       io::format_shape(weight["shape"].get<std::vector<int64_t>>()), weight["dtype"].get<std::string>(),
                       weight["bytes"].get<uint64_t>(), storage);
  }
  const auto& totals = info["totals"];
  out += fmt::format("\nTotals: {} weights, {} bytes ({} in external data), {} bytes on disk\n",
                     totals["weights"].get<uint64_t>(), totals["weight_bytes"].get<uint64_t>(),
                     totals["external_bytes"].get<uint64_t>(), totals["file_bytes"].get<uint64_t>());
  return out;
}

}  // namespace onnxquant
