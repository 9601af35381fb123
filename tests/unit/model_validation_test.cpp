// Load-time validation: names in messages, tensor data against shape, and graph structure.
#include <algorithm>
#include <string>
#include <vector>

#include "graph/node_order.hpp"
#include "graph/structure.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_validation.hpp"
#include "onnxquant/errors.hpp"
#include "test_models.hpp"

namespace onnxquant {
namespace {

using onnx::TensorProto;

TEST(QuotedName, PlainNameQuoted) { EXPECT_EQ(io::quoted_name("layer.0/w"), "'layer.0/w'"); }

TEST(QuotedName, ControlBytesEscaped) {
  EXPECT_EQ(io::quoted_name(std::string("a\nb\0c\x7f", 6)), "'a\\x0ab\\x00c\\x7f'");
}

TEST(QuotedName, QuoteAndBackslashEscaped) { EXPECT_EQ(io::quoted_name("it's\\"), "'it\\'s\\\\'"); }

TEST(QuotedName, ValidUtf8Kept) { EXPECT_EQ(io::quoted_name("gewicht_\xc3\xa4_\xe2\x82\xac"), "'gewicht_\xc3\xa4_\xe2\x82\xac'"); }

TEST(QuotedName, InvalidUtf8Escaped) {
  // A lone continuation byte, a truncated sequence, an overlong '/' and a UTF-16 surrogate.
  EXPECT_EQ(io::quoted_name("\x80|\xc3|\xc0\xaf|\xed\xa0\x80"), "'\\x80|\\xc3|\\xc0\\xaf|\\xed\\xa0\\x80'");
}

TEST(QuotedName, LongNameCut) {
  const std::string quoted = io::quoted_name(std::string(5000, 'w'));
  EXPECT_EQ(quoted, "'" + std::string(io::kMaxNameBytesInMessage, 'w') + "...' (5000 bytes)");
}

TEST(QuotedName, CutKeepsCharactersWhole) {
  // 119 ASCII bytes and then a 2-byte character that would cross the 120-byte limit.
  const std::string quoted = io::quoted_name(std::string(119, 'a') + "\xc3\xa4" + "tail");
  EXPECT_EQ(quoted, "'" + std::string(119, 'a') + "...' (125 bytes)");
}

TensorProto tensor_of(int32_t type, std::vector<int64_t> dims) {
  TensorProto tensor;
  tensor.set_name("t");
  tensor.set_data_type(type);
  for (int64_t dim : dims) tensor.add_dims(dim);
  return tensor;
}

TEST(ValidateTensor, MatchingFieldsAccepted) {
  TensorProto complex = tensor_of(TensorProto::COMPLEX64, {2});
  for (int i = 0; i < 4; ++i) complex.add_float_data(1.0f);  // a real and an imaginary part per element
  EXPECT_NO_THROW(io::validate_tensor(complex));

  TensorProto unsigned32 = tensor_of(TensorProto::UINT32, {3});
  for (int i = 0; i < 3; ++i) unsigned32.add_uint64_data(7);
  EXPECT_NO_THROW(io::validate_tensor(unsigned32));

  TensorProto strings = tensor_of(TensorProto::STRING, {2});
  strings.add_string_data("a");
  strings.add_string_data("b");
  EXPECT_NO_THROW(io::validate_tensor(strings));

  TensorProto empty = tensor_of(TensorProto::FLOAT, {0, 5});
  EXPECT_NO_THROW(io::validate_tensor(empty));
}

TEST(ValidateTensor, PackedInt4Sizes) {
  TensorProto packed = tensor_of(22, {5});  // INT4: two values per byte, 3 bytes for 5 values
  packed.set_raw_data(std::string(3, '\0'));
  EXPECT_NO_THROW(io::validate_tensor(packed));
  packed.set_raw_data(std::string(5, '\0'));
  EXPECT_THROW(io::validate_tensor(packed), ModelError);
}

struct BadTensorCase {
  const char* description;
  TensorProto tensor;
  const char* message;
};

std::vector<BadTensorCase> bad_tensor_cases() {
  std::vector<BadTensorCase> cases;
  TensorProto complex = tensor_of(TensorProto::COMPLEX128, {2});
  complex.add_double_data(1.0);
  complex.add_double_data(2.0);
  cases.push_back({"complex128 with one double per element", complex, "stores 2 values in double_data"});

  TensorProto wrong_field = tensor_of(TensorProto::INT64, {2});
  wrong_field.add_float_data(1.0f);
  wrong_field.add_float_data(2.0f);
  cases.push_back({"int64 in float_data", wrong_field, "stores data in float_data, which int64"});

  TensorProto half = tensor_of(TensorProto::FLOAT16, {4});
  half.add_int32_data(0x3C00);
  cases.push_back({"float16 with too few int32_data", half, "stores 1 values in int32_data"});

  TensorProto raw_string = tensor_of(TensorProto::STRING, {1});
  raw_string.set_raw_data("abc");
  cases.push_back({"string in raw_data", raw_string, "string tensors use string_data"});

  TensorProto no_data = tensor_of(TensorProto::FLOAT, {3});
  cases.push_back({"float without data", no_data, "stores 0 values in float_data"});

  TensorProto undefined = tensor_of(TensorProto::UNDEFINED, {1});
  cases.push_back({"undefined type", undefined, "no element type"});
  return cases;
}

TEST(ValidateTensor, BadTensorsRejected) {
  for (const auto& c : bad_tensor_cases()) {
    SCOPED_TRACE(c.description);
    try {
      io::validate_tensor(c.tensor);
      ADD_FAILURE() << "accepted";
    } catch (const ModelError& error) {
      EXPECT_NE(std::string(error.what()).find(c.message), std::string::npos) << error.what();
    }
  }
}

TEST(ValidateTensor, ExternalLengthChecked) {
  TensorProto tensor = tensor_of(TensorProto::FLOAT, {4});
  tensor.set_data_location(TensorProto::EXTERNAL);
  auto add = [&](const char* key, const char* value) {
    auto* entry = tensor.add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  };
  add("location", "w.bin");
  add("length", "12");
  EXPECT_THROW(io::validate_tensor(tensor), ModelError);
  tensor.mutable_external_data(1)->set_value("16");
  EXPECT_NO_THROW(io::validate_tensor(tensor));
}

TEST(ValidateStructure, OuterScopeValueAccepted) {
  onnx::ModelProto model = testing::parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y) {
  t = Relu (x)
  y = If (c) <then_branch = g1 () => (float[2] a) { a = Identity (t) },
              else_branch = g2 () => (float[2] b) { b = Neg (t) }>
}
)ONNX");
  EXPECT_NO_THROW(graph::validate_structure(model));
}

TEST(ValidateStructure, SubgraphReadingLaterValueIsCycle) {
  // The If node's branch reads `t`, which a node after the If produces from the If's own output.
  onnx::ModelProto model = testing::parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y) {
  y = If (c) <then_branch = g1 () => (float[2] a) { a = Identity (t) },
              else_branch = g2 () => (float[2] b) { b = Identity (x) }>
  t = Relu (y)
}
)ONNX");
  EXPECT_THROW(graph::validate_structure(model), ModelError);
}

TEST(ValidateStructure, UndefinedReadInSubgraphRejected) {
  onnx::ModelProto model = testing::parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y) {
  y = If (c) <then_branch = g1 () => (float[2] a) { a = Identity (absent) },
              else_branch = g2 () => (float[2] b) { b = Identity (x) }>
}
)ONNX");
  EXPECT_THROW(graph::validate_structure(model), ModelError);
}

TEST(NodeOrder, CycleFoundAndOrderViolation) {
  // Node 0 reads node 2, nodes 1 and 2 form a cycle, and node 3 reads node 0.
  const std::vector<std::vector<int>> dependencies = {{2}, {2}, {1}, {0}};
  std::vector<int> cycle = graph::find_cycle(dependencies);
  std::sort(cycle.begin(), cycle.end());
  EXPECT_EQ(cycle, std::vector<int>({1, 2}));
  const graph::OrderViolation violation = graph::first_order_violation(dependencies);
  EXPECT_EQ(violation.reader, 0);
  EXPECT_EQ(violation.producer, 2);
}

TEST(NodeOrder, OutOfOrderWithoutCycle) {
  const std::vector<std::vector<int>> dependencies = {{1}, {}};
  EXPECT_TRUE(graph::find_cycle(dependencies).empty());
  EXPECT_EQ(graph::first_order_violation(dependencies).reader, 0);
}

TEST(NodeOrder, SelfLoopIsCycle) {
  EXPECT_EQ(graph::find_cycle({{0}}), std::vector<int>({0}));
}

}  // namespace
}  // namespace onnxquant
