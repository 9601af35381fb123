// Helpers for building small test models: ONNX's textual format for the graph, and seeded
// random initializers added next to it.
#pragma once

#include <onnx/defs/parser.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "io/tensor_data.hpp"

namespace onnxquant::testing {

inline onnx::ModelProto parse_model(const char* text) {
  onnx::ModelProto model;
  const auto status = onnx::OnnxParser::Parse(model, text);
  EXPECT_TRUE(status.IsOK()) << status.ErrorMessage();
  return model;
}

inline std::vector<float> random_values(size_t count, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> distribution(0.0f, stddev);
  std::vector<float> values(count);
  for (auto& value : values) value = distribution(generator);
  return values;
}

inline size_t product(const std::vector<int64_t>& dims) {
  size_t count = 1;
  for (int64_t dim : dims) count *= static_cast<size_t>(dim);
  return count;
}

// Adds a float32 initializer with normal random values to `graph`.
inline void add_weight(onnx::GraphProto& graph, const std::string& name, const std::vector<int64_t>& dims,
                       uint32_t seed = 1) {
  *graph.add_initializer() = io::make_float_tensor(name, dims, random_values(product(dims), seed));
}

inline const onnx::TensorProto* find_initializer(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto& tensor : graph.initializer()) {
    if (tensor.name() == name) return &tensor;
  }
  return nullptr;
}

inline const onnx::NodeProto* find_node_by_op(const onnx::GraphProto& graph, const std::string& op_type) {
  for (const auto& node : graph.node()) {
    if (node.op_type() == op_type) return &node;
  }
  return nullptr;
}

inline int count_ops(const onnx::GraphProto& graph, const std::string& op_type) {
  int count = 0;
  for (const auto& node : graph.node()) count += node.op_type() == op_type ? 1 : 0;
  return count;
}

inline const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == name) return &attribute;
  }
  return nullptr;
}

inline std::vector<int64_t> dims(const onnx::TensorProto& tensor) { return io::dims_of(tensor); }

}  // namespace onnxquant::testing
