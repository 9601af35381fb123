// The interface between the graph runner and operator kernels, and the table of operators.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <onnx/onnx_pb.h>

#include "eval/attributes.hpp"
#include "eval/tensor.hpp"
#include "eval/thread_pool.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

// Runs a subgraph (an If branch, a Loop or Scan body) with values of the enclosing scopes visible.
class SubgraphRunner {
 public:
  virtual ~SubgraphRunner() = default;
  // Binds `inputs` to the subgraph's inputs in order and returns its outputs in order.
  virtual std::vector<Tensor> run(const onnx::GraphProto& graph, std::vector<Tensor> inputs) = 0;
};

class KernelContext {
 public:
  // `owned` has, for each input, the tensor itself when this node is its last reader and nothing
  // else refers to it, else nullptr. take_input() moves such inputs instead of copying them.
  KernelContext(const onnx::NodeProto& node, int version, std::span<const Tensor* const> inputs,
                std::span<Tensor* const> owned, std::vector<Tensor>& outputs, ThreadPool& pool,
                SubgraphRunner& subgraphs)
      : node_(node), attributes_(node), version_(version), inputs_(inputs), owned_(owned), outputs_(outputs),
        pool_(pool), subgraphs_(subgraphs) {}

  const onnx::NodeProto& node() const { return node_; }
  const NodeAttributes& attributes() const { return attributes_; }
  // The since_version of the operator version that applies to the node.
  int version() const { return version_; }
  ThreadPool& pool() const { return pool_; }
  SubgraphRunner& subgraphs() const { return subgraphs_; }

  size_t input_count() const { return inputs_.size(); }
  bool has_input(size_t index) const { return index < inputs_.size() && inputs_[index] != nullptr; }
  // Throws ModelError when the input is missing.
  const Tensor& input(size_t index) const;
  const Tensor* optional_input(size_t index) const { return has_input(index) ? inputs_[index] : nullptr; }
  // The input by value: moved when no later node reads it, else copied. The kernel must not read
  // input(index) afterwards.
  Tensor take_input(size_t index);

  size_t output_count() const { return outputs_.size(); }
  // False for an omitted optional output (an empty name).
  bool wants_output(size_t index) const;
  Tensor& output(size_t index) { return outputs_.at(index); }
  void set_output(size_t index, Tensor tensor) { outputs_.at(index) = std::move(tensor); }

 private:
  const onnx::NodeProto& node_;
  NodeAttributes attributes_;
  int version_;
  std::span<const Tensor* const> inputs_;
  std::span<Tensor* const> owned_;
  std::vector<Tensor>& outputs_;
  ThreadPool& pool_;
  SubgraphRunner& subgraphs_;
};

using KernelFunction = void (*)(KernelContext&);
// Throws NotSupported (see below) for attribute values or input forms the kernel does not
// implement, before anything runs.
using CheckFunction = void (*)(const onnx::NodeProto&, const NodeAttributes&, int version);

struct OperatorSpec {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  // The lowest since_version that the kernel implements; every later version up to the newest one
  // known is implemented too.
  int min_version = 1;
  // The attributes the kernel reads. A node with any other attribute is rejected, so that a
  // feature added in a later operator version never goes unnoticed.
  std::vector<std::string> attributes;
  KernelFunction run = nullptr;
  CheckFunction check = nullptr;
};

// An operator, attribute value, input form or element type that the evaluator does not implement.
// Session preparation reports what the node itself shows; kernels throw it for element types.
class NotSupported : public ModelError {
 public:
  using ModelError::ModelError;
};

class OperatorTable {
 public:
  void add(OperatorSpec spec);
  const OperatorSpec* find(const std::string& domain, const std::string& op_type) const;
  std::vector<const OperatorSpec*> all() const;

 private:
  std::map<std::pair<std::string, std::string>, OperatorSpec> specs_;
};

// Every operator the evaluator implements.
const OperatorTable& operator_table();

// The since_versions of an ai.onnx operator up to kMaxKnownOnnxOpset, or an empty list for an
// operator name that ai.onnx does not define.
std::span<const int> onnx_operator_versions(std::string_view op_type);
// The newest ai.onnx opset that the version table covers.
int max_known_onnx_opset();
// Every ai.onnx operator in the version table, in alphabetical order.
std::vector<std::string_view> onnx_operator_names();

// Registration functions, one per kernel source file.
void register_unary_ops(OperatorTable& table);
void register_binary_ops(OperatorTable& table);
void register_shape_ops(OperatorTable& table);
void register_tensor_ops(OperatorTable& table);
void register_matmul_ops(OperatorTable& table);
void register_reduce_ops(OperatorTable& table);
void register_normalization_ops(OperatorTable& table);
void register_quantization_ops(OperatorTable& table);
void register_transformer_ops(OperatorTable& table);
void register_conv_ops(OperatorTable& table);
void register_pool_ops(OperatorTable& table);
void register_resize_ops(OperatorTable& table);
void register_recurrent_ops(OperatorTable& table);
void register_control_flow_ops(OperatorTable& table);

}  // namespace onnxquant::eval
