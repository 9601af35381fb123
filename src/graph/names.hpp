// Unique names for the tensors and nodes a pass adds.
#pragma once

#include <string>
#include <unordered_set>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

// Knows every value and node name in every graph scope of a model, so a new name collides with
// none of them, including names in subgraphs that could capture it.
class NameAllocator {
 public:
  explicit NameAllocator(onnx::ModelProto& model);

  // Returns `base` if it is free, otherwise `base_2`, `base_3`, ..., and reserves the result.
  std::string allocate(const std::string& base);

 private:
  std::unordered_set<std::string> used_;
};

}  // namespace onnxquant::graph
