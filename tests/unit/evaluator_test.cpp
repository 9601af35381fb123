// The evaluator's session: preparation errors before anything runs, feed checks, value lifetimes,
// subgraphs and the operator version table.
#include <gtest/gtest.h>

#include <onnx/defs/schema.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "eval/graph_program.hpp"
#include "eval/kernel.hpp"
#include "eval/session.hpp"
#include "onnxquant/errors.hpp"
#include "test_models.hpp"

namespace onnxquant::eval {
namespace {

using onnx::TensorProto;

Tensor floats(std::vector<int64_t> shape, std::vector<float> values) {
  return make_tensor<float>(TensorProto::FLOAT, std::move(shape), values);
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

TEST(Session, RunsSmallGraph) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2, 2] x) => (float[2, 2] y) {
      two = Constant <value = float {2.0}> ()
      scaled = Mul(x, two)
      y = Relu(scaled)
    }
  )");
  Session session(model, SessionOptions{1});
  const auto outputs = session.run({{"x", floats({2, 2}, {1, -2, 3, -4})}});
  const auto y = outputs.at("y").values<float>();
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{2, 0, 6, 0}));
}

TEST(Session, EveryUnsupportedNodeListedBeforeRunning) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17, "example.domain" : 1]>
    g (float[2, 2] x) => (float[2, 2] y) {
      a = Det(x)
      b = example.domain.Custom(a)
      y = Resize <mode = "cubic", antialias = 1> (b)
    }
  )");
  const std::string message = error_of([&] { Session session(model); });
  EXPECT_NE(message.find("(3 problems)"), std::string::npos) << message;
  EXPECT_NE(message.find("'Det' node: the operator ai.onnx.Det is not supported"), std::string::npos) << message;
  EXPECT_NE(message.find("'Custom' node: the operator example.domain.Custom is not supported"), std::string::npos)
      << message;
  EXPECT_NE(message.find("'Resize' node: antialias is not supported"), std::string::npos) << message;
}

TEST(Session, UnknownAttributeRejected) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2] x) => (float[2] y) {
      y = Relu <future_option = 1> (x)
    }
  )");
  const std::string message = error_of([&] { Session session(model); });
  EXPECT_NE(message.find("attribute 'future_option' of Relu is not implemented"), std::string::npos) << message;
}

TEST(Session, OldOperatorVersionRejected) {
  // Add before opset 7 broadcasts through the legacy 'broadcast' attribute.
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 3, opset_import: ["" : 6]>
    g (float[2] x) => (float[2] y) {
      y = Add(x, x)
    }
  )");
  const std::string message = error_of([&] { Session session(model); });
  EXPECT_NE(message.find("version 6 of Add (opset 6) is not supported; the evaluator implements version 7 and later"),
            std::string::npos)
      << message;
}

TEST(Session, FeedsChecked) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[N, 3] x) => (float[N, 3] y) {
      y = Neg(x)
    }
  )");
  Session session(model);
  EXPECT_THROW(session.run({}), UsageError);
  EXPECT_NE(error_of([&] { session.run({{"x", floats({2, 4}, std::vector<float>(8))}}); })
                .find("input 'x' has shape [2, 4], but the model expects [N, 3]"),
            std::string::npos);
  EXPECT_THROW(session.run({{"x", make_tensor(TensorProto::DOUBLE, {1, 3})}}), UsageError);
  EXPECT_THROW(session.run({{"x", floats({1, 3}, {1, 2, 3})}, {"z", floats({1}, {1})}}), UsageError);
  EXPECT_NO_THROW(session.run({{"x", floats({5, 3}, std::vector<float>(15))}}));
}

TEST(Session, KernelErrorNamesNode) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[4] table, int64[1] index) => (float[1] y) {
      y = Gather(table, index)
    }
  )");
  Session session(model);
  const Tensor index = make_tensor<int64_t>(TensorProto::INT64, {1}, std::vector<int64_t>{9});
  const std::string message = error_of([&] { session.run({{"table", floats({4}, {1, 2, 3, 4})}, {"index", index}}); });
  EXPECT_NE(message.find("'Gather' node: index 9 is out of range for a dimension of 4"), std::string::npos) << message;
}

TEST(Session, IfReadsOuterValues) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (bool c, float[2] x) => (float[2] y) {
      doubled = Add(x, x)
      y = If(c) <
        then_branch = t () => (float[2] out) { out = Identity(doubled) },
        else_branch = e () => (float[2] out) { out = Neg(x) }
      >
    }
  )");
  Session session(model);
  const Tensor x = floats({2}, {1, -3});
  for (bool condition : {true, false}) {
    Tensor c = make_tensor(TensorProto::BOOL, {});
    c.values<uint8_t>()[0] = condition ? 1 : 0;
    const auto outputs = session.run({{"c", c}, {"x", x}});
    const auto y = outputs.at("y").values<float>();
    EXPECT_EQ(y[0], condition ? 2.0f : -1.0f);
    EXPECT_EQ(y[1], condition ? -6.0f : 3.0f);
  }
}

TEST(GraphProgram, ValuesFreedAfterLastReader) {
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2] x) => (float[2] y, float[2] b) {
      a = Neg(x)
      b = Abs(a)
      c = Relu(b)
      unused = Exp(a)
      y = Sqrt(c)
    }
  )");
  std::vector<std::string> findings;
  GraphProgram program(model.graph(), {{"", 17}}, {}, findings);
  ASSERT_TRUE(findings.empty());
  auto released_after = [&](const std::string& op_type) {
    for (const auto& step : program.steps()) {
      if (step.node->op_type() != op_type) continue;
      std::vector<std::string> names;
      for (int slot : step.release) names.push_back(program.slot_name(slot));
      std::sort(names.begin(), names.end());
      return names;
    }
    return std::vector<std::string>{"no such node"};
  };
  // 'a' is last read by Exp, whose output no node reads; 'b' is a graph output and stays. Releasing
  // the graph input 'x' drops the reference only, as the caller owns its feeds.
  EXPECT_EQ(released_after("Neg"), std::vector<std::string>{"x"});
  EXPECT_EQ(released_after("Abs"), std::vector<std::string>{});
  EXPECT_EQ(released_after("Exp"), (std::vector<std::string>{"a", "unused"}));
  EXPECT_EQ(released_after("Sqrt"), (std::vector<std::string>{"c"}));
}

TEST(GraphProgram, NodesRunInDependencyOrder) {
  // The nodes are listed out of order; ONNX requires topological order, the evaluator sorts them.
  const onnx::ModelProto model = testing::parse_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[1] x) => (float[1] y) {
      y = Neg(a)
      a = Abs(x)
    }
  )");
  Session session(model);
  EXPECT_EQ(session.run({{"x", floats({1}, {-5})}}).at("y").values<float>()[0], -5.0f);
}

TEST(OperatorVersions, MatchLinkedOnnxUpToItsOpset) {
  // The version table comes from onnx 1.19; libonnx 1.12's schemas must agree up to opset 17.
  constexpr int kLinkedMaxOpset = 17;
  for (const auto name : onnx_operator_names()) {
    const std::string op_type(name);
    std::vector<int> expected;
    for (int opset = 1; opset <= kLinkedMaxOpset; ++opset) {
      const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(op_type, opset, "");
      if (schema != nullptr && (expected.empty() || expected.back() != schema->since_version())) {
        expected.push_back(schema->since_version());
      }
    }
    std::vector<int> table;
    for (int version : onnx_operator_versions(op_type)) {
      if (version <= kLinkedMaxOpset) table.push_back(version);
    }
    EXPECT_EQ(table, expected) << op_type;
  }
}

}  // namespace
}  // namespace onnxquant::eval
