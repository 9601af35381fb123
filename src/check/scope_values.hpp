// The values visible in one graph scope of a model under check: constant tensors and known types.
#pragma once

#include <string>
#include <unordered_map>

#include <onnx/onnx_pb.h>

namespace onnxquant::check {

class ScopeValues {
 public:
  // Records the initializers, Constant-node values and declared types of `graph`, which
  // `parent` encloses (nullptr for the main graph).
  ScopeValues(const onnx::GraphProto& graph, const ScopeValues* parent);

  // The constant tensor named `name` in this scope or an enclosing one, or nullptr.
  const onnx::TensorProto* constant(const std::string& name) const;
  // The shape declared for `name` (as an input, output or value_info), or nullptr.
  const onnx::TensorShapeProto* declared_shape(const std::string& name) const;
  // Whether an enclosing scope (not this one) defines `name`.
  bool defined_outside(const std::string& name) const;

 private:
  const ScopeValues* parent_;
  std::unordered_map<std::string, const onnx::TensorProto*> constants_;
  std::unordered_map<std::string, const onnx::TensorShapeProto*> shapes_;
  std::unordered_map<std::string, bool> defined_;
};

}  // namespace onnxquant::check
