// Embedding tables that graph inputs index: the vocabulary of a language model.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <onnx/onnx_pb.h>

namespace onnxquant::compare {

struct EmbeddingTables {
  // Graph input name -> rows of the constant table that it indexes (the smallest when it indexes
  // several).
  std::map<std::string, int64_t> rows_by_input;
  // The largest of those row counts, and the input that indexes that table; 0 and empty when there
  // is none.
  int64_t vocab_size = 0;
  std::string vocab_input;
};

// Finds the Gather (and com.microsoft GatherBlockQuantized) nodes of the main graph whose indices
// come from a graph input, directly or through Cast, Reshape, Unsqueeze, Squeeze, Flatten or
// Identity. Their data must be a constant: an initializer or a Constant node, possibly behind
// DequantizeLinear or Cast. The row count is the data's dimension at the gather axis.
EmbeddingTables find_embedding_tables(const onnx::GraphProto& graph);

}  // namespace onnxquant::compare
