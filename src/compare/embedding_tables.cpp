#include "compare/embedding_tables.hpp"

#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

namespace onnxquant::compare {
namespace {

// Hops from a graph input to the Gather that it feeds.
constexpr int kMaxPassThroughHops = 4;

bool is_default_domain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

bool passes_indices_through(const onnx::NodeProto& node) {
  static const std::set<std::string_view> kOps = {"Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity"};
  return is_default_domain(node) && kOps.count(node.op_type()) > 0;
}

int64_t int_attribute(const onnx::NodeProto& node, std::string_view name, int64_t fallback) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == name) return attribute.i();
  }
  return fallback;
}

class GraphIndex {
 public:
  explicit GraphIndex(const onnx::GraphProto& graph) {
    for (const auto& tensor : graph.initializer()) constants_[tensor.name()] = &tensor;
    for (const auto& node : graph.node()) {
      for (const auto& output : node.output()) producers_[output] = &node;
      for (const auto& input : node.input()) consumers_[input].push_back(&node);
      if (node.op_type() != "Constant" || !is_default_domain(node) || node.output_size() != 1) continue;
      for (const auto& attribute : node.attribute()) {
        if (attribute.name() == "value" && attribute.has_t()) constants_[node.output(0)] = &attribute.t();
      }
    }
  }

  // The constant behind `value`, following DequantizeLinear and Cast back to their first input.
  const onnx::TensorProto* constant_behind(const std::string& value) const {
    std::string current = value;
    for (int hop = 0; hop <= kMaxPassThroughHops; ++hop) {
      if (const auto found = constants_.find(current); found != constants_.end()) return found->second;
      const auto producer = producers_.find(current);
      if (producer == producers_.end()) return nullptr;
      const onnx::NodeProto& node = *producer->second;
      const bool unwraps = node.op_type() == "DequantizeLinear" || node.op_type() == "Cast";
      if (!unwraps || node.input_size() == 0) return nullptr;
      current = node.input(0);
    }
    return nullptr;
  }

  const std::vector<const onnx::NodeProto*>& consumers(const std::string& value) const {
    static const std::vector<const onnx::NodeProto*> kNone;
    const auto found = consumers_.find(value);
    return found == consumers_.end() ? kNone : found->second;
  }

 private:
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::map<std::string, const onnx::NodeProto*> producers_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
};

// Rows of the table that `node` gathers from when `value` is its indices input, or 0.
int64_t gathered_rows(const GraphIndex& index, const onnx::NodeProto& node, const std::string& value) {
  const bool gather = node.op_type() == "Gather" && is_default_domain(node);
  const bool block_quantized = node.op_type() == "GatherBlockQuantized" && node.domain() == "com.microsoft";
  if ((!gather && !block_quantized) || node.input_size() < 2 || node.input(1) != value) return 0;

  const onnx::TensorProto* table = index.constant_behind(node.input(0));
  if (table == nullptr || table->dims_size() == 0) return 0;
  int64_t axis = int_attribute(node, gather ? "axis" : "gather_axis", 0);
  if (axis < 0) axis += table->dims_size();
  if (axis < 0 || axis >= table->dims_size()) return 0;
  return table->dims(static_cast<int>(axis));
}

// The smallest row count of the tables that `input` indexes, or 0.
int64_t rows_indexed_by(const GraphIndex& index, const std::string& input) {
  int64_t rows = 0;
  std::vector<std::string> frontier = {input};
  for (int hop = 0; hop <= kMaxPassThroughHops && !frontier.empty(); ++hop) {
    std::vector<std::string> next;
    for (const auto& value : frontier) {
      for (const onnx::NodeProto* node : index.consumers(value)) {
        const int64_t found = gathered_rows(index, *node, value);
        if (found > 0) rows = rows == 0 ? found : std::min(rows, found);
        if (passes_indices_through(*node) && node->input_size() > 0 && node->input(0) == value) {
          next.insert(next.end(), node->output().begin(), node->output().end());
        }
      }
    }
    frontier = std::move(next);
  }
  return rows;
}

}  // namespace

EmbeddingTables find_embedding_tables(const onnx::GraphProto& graph) {
  const GraphIndex index(graph);
  EmbeddingTables tables;
  for (const auto& input : graph.input()) {
    const int64_t rows = rows_indexed_by(index, input.name());
    if (rows <= 0) continue;
    tables.rows_by_input[input.name()] = rows;
    if (rows > tables.vocab_size) {
      tables.vocab_size = rows;
      tables.vocab_input = input.name();
    }
  }
  return tables;
}

}  // namespace onnxquant::compare
