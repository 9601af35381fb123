// A graph prepared for evaluation: nodes in execution order with resolved kernels, value slots,
// constants and the point after which each intermediate value is freed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnx/onnx_pb.h>

#include "eval/kernel.hpp"
#include "eval/tensor.hpp"

namespace onnxquant::eval {

// Imported opset version by domain; "ai.onnx" is stored as "".
using OpsetVersions = std::map<std::string, int64_t>;

struct NodeStep {
  const onnx::NodeProto* node = nullptr;
  const OperatorSpec* spec = nullptr;
  int version = 0;
  std::vector<int> inputs;   // slot per node input, -1 for an omitted optional input
  std::vector<int> outputs;  // slot per node output, -1 for an omitted optional output
  std::vector<int> release;  // slots whose last reader is this step
};

class GraphProgram {
 public:
  // Resolves every node of `graph` and of its subgraphs. Problems go to `findings`, one line each
  // naming the node, so that the caller can report all of them at once. `outer_names` are the
  // values that enclosing graphs define.
  GraphProgram(const onnx::GraphProto& graph, const OpsetVersions& opsets,
               const std::unordered_map<std::string, int>& outer_names, std::vector<std::string>& findings);

  const onnx::GraphProto& graph() const { return graph_; }
  size_t slot_count() const { return slot_names_.size(); }
  const std::string& slot_name(int slot) const { return slot_names_.at(static_cast<size_t>(slot)); }
  // The slot of `name`, or -1 when this graph neither defines nor reads it.
  int find_slot(const std::string& name) const;

  const std::vector<int>& input_slots() const { return input_slots_; }
  const std::vector<int>& output_slots() const { return output_slots_; }
  // Slots read from enclosing graphs.
  const std::vector<int>& outer_slots() const { return outer_slots_; }
  const std::vector<std::pair<int, std::shared_ptr<const Tensor>>>& constants() const { return constants_; }
  const std::vector<NodeStep>& steps() const { return steps_; }
  // The program of a subgraph attribute of one of this graph's nodes.
  const GraphProgram& subprogram(const onnx::GraphProto& graph) const;

 private:
  int add_slot(const std::string& name);
  void add_constants(std::vector<std::string>& findings);
  void add_steps(const OpsetVersions& opsets, const std::unordered_map<std::string, int>& outer_names,
                 std::vector<std::string>& findings);
  void add_subprograms(const onnx::NodeProto& node, const OpsetVersions& opsets, std::vector<std::string>& findings);
  void compute_releases();

  const onnx::GraphProto& graph_;
  std::vector<std::string> slot_names_;
  std::unordered_map<std::string, int> slots_;
  std::vector<int> input_slots_;
  std::vector<int> output_slots_;
  std::vector<int> outer_slots_;
  std::vector<std::pair<int, std::shared_ptr<const Tensor>>> constants_;
  std::vector<NodeStep> steps_;
  std::map<const onnx::GraphProto*, std::unique_ptr<GraphProgram>> subprograms_;
};

// Resolves the operator and version of `node`, checks its attributes, and returns the spec, or
// returns nullptr after adding a finding.
const OperatorSpec* resolve_operator(const onnx::NodeProto& node, const OpsetVersions& opsets, int& version,
                                     std::vector<std::string>& findings);

}  // namespace onnxquant::eval
