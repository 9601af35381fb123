#include "compare/embedding_tables.hpp"

#include <gtest/gtest.h>

#include "test_models.hpp"

namespace onnxquant::compare {
namespace {

using testing::add_weight;
using testing::parse_model;

TEST(EmbeddingTables, GatherOfInitializer) {
  onnx::ModelProto model = parse_model(R"(<ir_version: 8, opset_import: ["" : 17]>
g (int64[B, S] input_ids, int64[B, S] token_type_ids) => (float[B, S, 8] y) {
  words = Gather (word_embeddings, input_ids)
  types = Gather (type_embeddings, token_type_ids)
  y = Add (words, types)
})");
  add_weight(*model.mutable_graph(), "word_embeddings", {30, 8});
  add_weight(*model.mutable_graph(), "type_embeddings", {2, 8});
  const EmbeddingTables tables = find_embedding_tables(model.graph());
  EXPECT_EQ(tables.rows_by_input.at("input_ids"), 30);
  EXPECT_EQ(tables.rows_by_input.at("token_type_ids"), 2);
  EXPECT_EQ(tables.vocab_size, 30);
  EXPECT_EQ(tables.vocab_input, "input_ids");
}

TEST(EmbeddingTables, ThroughCastAndDequantizeLinear) {
  // Indices pass a Cast; the table is an int8 initializer behind DequantizeLinear, as INT8
  // --quantize-embeddings writes it.
  onnx::ModelProto model = parse_model(R"(<ir_version: 8, opset_import: ["" : 17]>
g (int32[B, S] ids) => (float[B, S, 4] y) {
  ids64 = Cast <to = 7> (ids)
  scale = Constant <value = float {0.5}> ()
  table = DequantizeLinear (table_q, scale)
  y = Gather (table, ids64)
})");
  auto* table = model.mutable_graph()->add_initializer();
  table->set_name("table_q");
  table->set_data_type(onnx::TensorProto::INT8);
  table->add_dims(11);
  table->add_dims(4);
  table->set_raw_data(std::string(44, '\0'));
  const EmbeddingTables tables = find_embedding_tables(model.graph());
  EXPECT_EQ(tables.rows_by_input.at("ids"), 11);
}

TEST(EmbeddingTables, ConstantNodeTableAndAxis) {
  onnx::ModelProto model = parse_model(R"(<ir_version: 8, opset_import: ["" : 17]>
g (int64[3] index) => (float[2, 3] y) {
  table = Constant <value = float[2, 5] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}> ()
  y = Gather <axis = 1> (table, index)
})");
  const EmbeddingTables tables = find_embedding_tables(model.graph());
  EXPECT_EQ(tables.rows_by_input.at("index"), 5);
}

TEST(EmbeddingTables, IgnoresComputedTablesAndDataInputs) {
  // `x` is the data of a Gather, not its indices, and the second table is computed at run time.
  onnx::ModelProto model = parse_model(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[4, 2] x, int64[1] i) => (float[1, 2] y, float[1, 2] z) {
  y = Gather (x, i)
  doubled = Add (x, x)
  z = Gather (doubled, i)
})");
  const EmbeddingTables tables = find_embedding_tables(model.graph());
  EXPECT_TRUE(tables.rows_by_input.empty());
  EXPECT_EQ(tables.vocab_size, 0);
}

}  // namespace
}  // namespace onnxquant::compare
