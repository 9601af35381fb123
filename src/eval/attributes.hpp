// Typed access to a node's attributes, with ONNX defaults and errors that name the attribute.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::eval {

class NodeAttributes {
 public:
  explicit NodeAttributes(const onnx::NodeProto& node) : node_(node) {}

  bool has(const std::string& name) const { return find(name) != nullptr; }

  // Each getter returns the default (or nullopt) when the attribute is absent and throws
  // ModelError when it is present with another attribute type.
  int64_t get_int(const std::string& name, int64_t fallback) const;
  std::optional<int64_t> find_int(const std::string& name) const;
  float get_float(const std::string& name, float fallback) const;
  std::optional<float> find_float(const std::string& name) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::optional<std::vector<int64_t>> find_ints(const std::string& name) const;
  std::vector<float> get_floats(const std::string& name, std::vector<float> fallback = {}) const;
  std::vector<std::string> get_strings(const std::string& name) const;
  const onnx::TensorProto* find_tensor(const std::string& name) const;
  const onnx::GraphProto* find_graph(const std::string& name) const;

  // Throws ModelError when a required attribute is absent.
  int64_t require_int(const std::string& name) const;
  const onnx::GraphProto& require_graph(const std::string& name) const;

 private:
  const onnx::AttributeProto* find(const std::string& name) const;
  const onnx::AttributeProto* find_typed(const std::string& name, onnx::AttributeProto::AttributeType type) const;

  const onnx::NodeProto& node_;
};

}  // namespace onnxquant::eval
