// Graph rewrites of `quantize_model` on small models written in ONNX's textual format.
#include <onnx/checker.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "graph/opset.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/quantize.hpp"
#include "test_models.hpp"

namespace onnxquant {
namespace {

using testing::add_weight;
using testing::count_ops;
using testing::dims;
using testing::find_attribute;
using testing::find_initializer;
using testing::find_node_by_op;
using testing::parse_model;

QuantizeOptions int8_options() {
  QuantizeOptions options;
  options.precision = Precision::kInt8;
  options.min_elements = 0;
  return options;
}

QuantizeOptions int4_options() {
  QuantizeOptions options;
  options.precision = Precision::kInt4;
  options.min_elements = 0;
  return options;
}

onnx::ModelProto matmul_model(int64_t k = 64, int64_t n = 48, int opset = 17) {
  const std::string text = "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) +
                           "]>\n"
                           "g (float[B, " + std::to_string(k) + "] x) => (float[B, " + std::to_string(n) +
                           "] y) {\n  y = MatMul (x, w)\n}\n";
  onnx::ModelProto model = parse_model(text.c_str());
  add_weight(*model.mutable_graph(), "w", {k, n});
  return model;
}

Report run(onnx::ModelProto& model, const QuantizeOptions& options) {
  Report report;
  quantize_model(model, options, report);
  return report;
}

TEST(QuantizeInt8, MatMulWeightBecomesDequantizeLinear) {
  onnx::ModelProto model = matmul_model();
  const Report report = run(model, int8_options());

  const auto& graph = model.graph();
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(find_initializer(graph, "w"), nullptr);
  const onnx::NodeProto* dequantize = find_node_by_op(graph, "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  EXPECT_EQ(dequantize->output(0), "w");
  EXPECT_EQ(find_attribute(*dequantize, "axis"), nullptr);

  const onnx::TensorProto* quantized = find_initializer(graph, dequantize->input(0));
  ASSERT_NE(quantized, nullptr);
  EXPECT_EQ(quantized->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(dims(*quantized), (std::vector<int64_t>{64, 48}));
  const onnx::TensorProto* scale = find_initializer(graph, dequantize->input(1));
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->dims_size(), 0);
  EXPECT_EQ(find_initializer(graph, dequantize->input(2))->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(graph.node(0).op_type(), "DequantizeLinear");
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

TEST(QuantizeInt8, ReportEntryDescribesTensor) {
  onnx::ModelProto model = matmul_model();
  const Report report = run(model, int8_options());

  ASSERT_EQ(report.tensors.size(), 1u);
  const TensorReport& entry = report.tensors[0];
  EXPECT_EQ(entry.name, "w");
  EXPECT_EQ(entry.op_types, std::vector<std::string>{"MatMul"});
  EXPECT_EQ(entry.bytes_before, 64u * 48u * 4u);
  EXPECT_EQ(entry.bytes_after, 64u * 48u + 4u + 1u);
  EXPECT_EQ(entry.scheme, "per-tensor");
  EXPECT_GT(entry.sqnr_db, 30.0);
  EXPECT_GT(entry.cosine_similarity, 0.999);
  EXPECT_GT(entry.scale_min, 0.0);
}

struct AxisCase {
  const char* name;
  const char* text;
  std::vector<int64_t> weight_dims;
  int64_t expected_axis;
};

// Prints the case name in test listings instead of the bytes of the struct.
void PrintTo(const AxisCase& axis_case, std::ostream* stream) { *stream << axis_case.name; }

class PerChannelAxis : public ::testing::TestWithParam<AxisCase> {};

TEST_P(PerChannelAxis, AxisWrittenExplicitly) {
  const AxisCase& param = GetParam();
  onnx::ModelProto model = parse_model(param.text);
  add_weight(*model.mutable_graph(), "w", param.weight_dims);
  QuantizeOptions options = int8_options();
  options.per_channel = true;
  const Report report = run(model, options);

  const onnx::NodeProto* dequantize = find_node_by_op(model.graph(), "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  const onnx::AttributeProto* axis = find_attribute(*dequantize, "axis");
  ASSERT_NE(axis, nullptr);
  EXPECT_EQ(axis->i(), param.expected_axis);
  const onnx::TensorProto* scale = find_initializer(model.graph(), dequantize->input(1));
  EXPECT_EQ(dims(*scale), std::vector<int64_t>{param.weight_dims[param.expected_axis]});
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].axis, param.expected_axis);
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, PerChannelAxis,
    ::testing::Values(
        AxisCase{"MatMul", "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[B, 8] x) => (float[B, 6] y) { y = MatMul (x, w) }",
                 {8, 6}, 1},
        AxisCase{"GemmTransB", "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[2, 8] x) => (float[2, 6] y) { y = Gemm <transB = 1> (x, w) }",
                 {6, 8}, 0},
        AxisCase{"Gemm", "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[2, 8] x) => (float[2, 6] y) { y = Gemm (x, w) }",
                 {8, 6}, 1},
        AxisCase{"Conv", "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[1, 3, 8, 8] x) => (float[1, 5, 6, 6] y) { y = Conv (x, w) }",
                 {5, 3, 3, 3}, 0},
        AxisCase{"ConvTranspose", "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[1, 3, 4, 4] x) => (float[1, 5, 6, 6] y) { y = ConvTranspose (x, w) }",
                 {3, 5, 3, 3}, 1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(QuantizeInt8, LowSqnrNoteNamesLowestFirst) {
  // A chain of 12 MatMuls whose weights each have one outlier of 150 to 260 among N(0, 1) values,
  // so per-tensor INT8 rounds the other values coarsely (about 17 dB).
  std::string text = "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[B, 64] y0) => (float[B, 64] y12) {\n";
  for (int i = 0; i < 12; ++i) {
    text += "  y" + std::to_string(i + 1) + " = MatMul (y" + std::to_string(i) + ", w" + std::to_string(i) + ")\n";
  }
  onnx::ModelProto model = parse_model((text + "}\n").c_str());
  for (int i = 0; i < 12; ++i) {
    add_weight(*model.mutable_graph(), "w" + std::to_string(i), {64, 64}, static_cast<uint32_t>(i + 1));
    const float outlier = 150.0f + 10.0f * static_cast<float>(i);
    std::memcpy(model.mutable_graph()->mutable_initializer(i)->mutable_raw_data()->data(), &outlier, sizeof(float));
  }
  const Report report = run(model, int8_options());

  std::vector<std::pair<double, std::string>> by_sqnr;
  for (const TensorReport& entry : report.tensors) by_sqnr.emplace_back(entry.sqnr_db, entry.name);
  std::stable_sort(by_sqnr.begin(), by_sqnr.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  ASSERT_EQ(by_sqnr.size(), 12u);
  ASSERT_LT(by_sqnr.back().first, 20.0);
  ASSERT_EQ(report.notes.size(), 1u);
  const std::string& note = report.notes[0];
  EXPECT_EQ(note.rfind("12 tensors have SQNR below 20 dB", 0), 0u) << note;
  // The eight lowest in increasing order, then a count of the rest.
  size_t previous = 0;
  for (size_t i = 0; i < 8; ++i) {
    const size_t position = note.find(by_sqnr[i].second + " (");
    ASSERT_NE(position, std::string::npos) << by_sqnr[i].second;
    EXPECT_GT(position, previous);
    previous = position;
  }
  for (size_t i = 8; i < 12; ++i) EXPECT_EQ(note.find(by_sqnr[i].second + " ("), std::string::npos);
  EXPECT_NE(note.find("and 4 more"), std::string::npos);
}

TEST(QuantizeInt8, AsymmetricUsesUint8ZeroPoint) {
  onnx::ModelProto model = matmul_model();
  QuantizeOptions options = int8_options();
  options.asymmetric = true;
  const Report report = run(model, options);

  const onnx::NodeProto* dequantize = find_node_by_op(model.graph(), "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  EXPECT_EQ(find_initializer(model.graph(), dequantize->input(0))->data_type(), onnx::TensorProto::UINT8);
  EXPECT_EQ(find_initializer(model.graph(), dequantize->input(2))->data_type(), onnx::TensorProto::UINT8);
  EXPECT_FALSE(report.tensors[0].symmetric);
}

TEST(QuantizeInt8, LowOpsetConvertedForPerChannel) {
  onnx::ModelProto model = matmul_model(64, 48, 11);
  QuantizeOptions options = int8_options();
  options.per_channel = true;
  const Report report = run(model, options);

  EXPECT_EQ(graph::opset_version(model, ""), 13);
  EXPECT_EQ(report.opset_before, 11);
  EXPECT_EQ(report.opset_after, 13);
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].scheme, "per-channel");
  EXPECT_FALSE(report.notes.empty());
}

TEST(QuantizeInt8, FailedConversionFallsBackToPerTensor) {
  // Softmax of an input with unknown rank cannot be converted from opset 12 to 13.
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 7, opset_import: ["" : 12]>
g (float[B, 64] x, float s) => (float[B, 48] y, float z) {
  y = MatMul (x, w)
  z = Softmax (s)
}
)ONNX");
  model.mutable_graph()->mutable_input(1)->mutable_type()->mutable_tensor_type()->clear_shape();
  model.mutable_graph()->mutable_output(1)->mutable_type()->mutable_tensor_type()->clear_shape();
  add_weight(*model.mutable_graph(), "w", {64, 48});
  QuantizeOptions options = int8_options();
  options.per_channel = true;
  const Report report = run(model, options);

  EXPECT_EQ(graph::opset_version(model, ""), 12);
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].scheme, "per-tensor");
  ASSERT_FALSE(report.notes.empty());
  EXPECT_NE(report.notes[0].find("per-tensor"), std::string::npos);
  EXPECT_EQ(find_attribute(*find_node_by_op(model.graph(), "DequantizeLinear"), "axis"), nullptr);
}

TEST(QuantizeInt8, ConstantNodeWeightReplaced) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 2] x) => (float[B, 2] y) {
  w = Constant <value = float[2, 2] {1.0, -2.0, 0.5, 4.0}> ()
  y = MatMul (x, w)
}
)ONNX");
  const Report report = run(model, int8_options());

  EXPECT_EQ(count_ops(model.graph(), "Constant"), 0);
  EXPECT_EQ(count_ops(model.graph(), "DequantizeLinear"), 1);
  ASSERT_EQ(report.tensors.size(), 1u);
  // The largest magnitude, 4.0, maps to 127 exactly.
  EXPECT_FLOAT_EQ(static_cast<float>(report.tensors[0].scale_max), 4.0f / 127.0f);
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

TEST(QuantizeInt8, WeightInsideIfBranchQuantizedThere) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 2] x, bool c) => (float[B, 2] y) {
  y = If (c) <
    then_branch = then_graph () => (float[B, 2] t) {
      w = Constant <value = float[2, 2] {1.0, -2.0, 0.5, 4.0}> ()
      t = MatMul (x, w)
    },
    else_branch = else_graph () => (float[B, 2] e) { e = Identity (x) }>
}
)ONNX");
  const Report report = run(model, int8_options());

  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_NE(report.tensors[0].scope, "main");
  const onnx::GraphProto& branch = model.graph().node(0).attribute(0).g();
  EXPECT_EQ(count_ops(branch, "DequantizeLinear"), 1);
  EXPECT_EQ(count_ops(branch, "Constant"), 0);
  EXPECT_EQ(branch.initializer_size(), 3);
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

TEST(QuantizeInt8, WeightSharedWithGatherStaysFloat) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x, int64[I] ids) => (float[B, 48] y, float[I, 48] e) {
  y = MatMul (x, w)
  e = Gather (w, ids)
}
)ONNX");
  add_weight(*model.mutable_graph(), "w", {64, 48});
  const Report report = run(model, int8_options());

  EXPECT_TRUE(report.tensors.empty());
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].reason.find("Gather"), std::string::npos);
  EXPECT_NE(find_initializer(model.graph(), "w"), nullptr);
}

TEST(QuantizeInt8, ExcludeByNodeAndTensorName) {
  for (const std::string& excluded : {std::string("w"), std::string("the_matmul")}) {
    onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x) => (float[B, 48] y) { y = MatMul (x, w) }
)ONNX");
    model.mutable_graph()->mutable_node(0)->set_name("the_matmul");
    add_weight(*model.mutable_graph(), "w", {64, 48});
    QuantizeOptions options = int8_options();
    options.exclude = {excluded};
    const Report report = run(model, options);

    EXPECT_TRUE(report.tensors.empty()) << excluded;
    ASSERT_EQ(report.skipped.size(), 1u) << excluded;
    EXPECT_NE(report.skipped[0].reason.find("--exclude"), std::string::npos);
  }
}

TEST(QuantizeInt8, MinElementsKeepsSmallWeightsFloat) {
  onnx::ModelProto model = matmul_model(16, 8);
  QuantizeOptions options = int8_options();
  options.min_elements = 1024;
  const Report report = run(model, options);

  EXPECT_TRUE(report.tensors.empty());
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].reason.find("--min-elements"), std::string::npos);
}

TEST(QuantizeInt8, NonFiniteWeightStaysFloat) {
  onnx::ModelProto model = matmul_model(4, 4);
  auto* tensor = model.mutable_graph()->mutable_initializer(0);
  std::vector<float> values = io::read_float_values(*tensor);
  values[5] = std::numeric_limits<float>::quiet_NaN();
  *tensor = io::make_float_tensor("w", {4, 4}, values);
  const Report report = run(model, int8_options());

  EXPECT_TRUE(report.tensors.empty());
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].reason.find("NaN"), std::string::npos);
  EXPECT_NE(find_initializer(model.graph(), "w"), nullptr);
}

TEST(QuantizeInt8, Float16WeightGetsCastBack) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float16[B, 64] x) => (float16[B, 48] y) { y = MatMul (x, w) }
)ONNX");
  *model.mutable_graph()->add_initializer() =
      io::make_float16_tensor("w", {64, 48}, testing::random_values(64 * 48, 5));
  const Report report = run(model, int8_options());

  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].dtype_before, "float16");
  const onnx::NodeProto* cast = find_node_by_op(model.graph(), "Cast");
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->output(0), "w");
  EXPECT_EQ(find_attribute(*cast, "to")->i(), onnx::TensorProto::FLOAT16);
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

TEST(QuantizeInt8, GeneratedNamesAvoidCollisions) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x) => (float[B, 48] y, float[B, 64] w_quantized) {
  y = MatMul (x, w)
  w_quantized = Identity (x)
}
)ONNX");
  add_weight(*model.mutable_graph(), "w", {64, 48});
  run(model, int8_options());

  const onnx::NodeProto* dequantize = find_node_by_op(model.graph(), "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  EXPECT_EQ(dequantize->input(0), "w_quantized_2");
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

TEST(QuantizeInt4, MatMulBecomesMatMulNBits) {
  onnx::ModelProto model = matmul_model(40, 24);
  const Report report = run(model, int4_options());

  const onnx::NodeProto* node = find_node_by_op(model.graph(), "MatMulNBits");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->domain(), "com.microsoft");
  EXPECT_EQ(node->input_size(), 3);
  EXPECT_EQ(find_attribute(*node, "K")->i(), 40);
  EXPECT_EQ(find_attribute(*node, "N")->i(), 24);
  EXPECT_EQ(find_attribute(*node, "bits")->i(), 4);
  EXPECT_EQ(find_attribute(*node, "block_size")->i(), 32);
  // K = 40 needs two blocks of 32, each stored in 16 bytes.
  EXPECT_EQ(dims(*find_initializer(model.graph(), node->input(1))), (std::vector<int64_t>{24, 2, 16}));
  EXPECT_EQ(dims(*find_initializer(model.graph(), node->input(2))), (std::vector<int64_t>{24, 2}));
  EXPECT_EQ(find_initializer(model.graph(), "w"), nullptr);
  EXPECT_EQ(graph::opset_version(model, "com.microsoft"), 1);
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].scheme, "block");
  EXPECT_EQ(report.tensors[0].dtype_after, "int4");
  EXPECT_NO_THROW(onnx::checker::check_model(model));
}

TEST(QuantizeInt4, AsymmetricAddsPackedZeroPoints) {
  onnx::ModelProto model = matmul_model(80, 24);
  QuantizeOptions options = int4_options();
  options.asymmetric = true;
  run(model, options);

  const onnx::NodeProto* node = find_node_by_op(model.graph(), "MatMulNBits");
  ASSERT_NE(node, nullptr);
  ASSERT_EQ(node->input_size(), 4);
  // Three blocks of 32 per column need two bytes of 4-bit zero points.
  const onnx::TensorProto* zero_points = find_initializer(model.graph(), node->input(3));
  ASSERT_NE(zero_points, nullptr);
  EXPECT_EQ(zero_points->data_type(), onnx::TensorProto::UINT8);
  EXPECT_EQ(dims(*zero_points), (std::vector<int64_t>{24, 2}));
}

TEST(QuantizeInt4, Float16WeightGetsFloat16Scales) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float16[B, 64] x) => (float16[B, 48] y) { y = MatMul (x, w) }
)ONNX");
  *model.mutable_graph()->add_initializer() =
      io::make_float16_tensor("w", {64, 48}, testing::random_values(64 * 48, 6));
  run(model, int4_options());

  const onnx::NodeProto* node = find_node_by_op(model.graph(), "MatMulNBits");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(find_initializer(model.graph(), node->input(2))->data_type(), onnx::TensorProto::FLOAT16);
}

TEST(QuantizeInt4, UnsupportedWeightsListedWithReason) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 4, 64] x, float[1, 3, 8, 8] image) => (float[2, 4, 48] y, float[1, 5, 6, 6] z) {
  y = MatMul (x, batched)
  z = Conv (image, filter)
}
)ONNX");
  add_weight(*model.mutable_graph(), "batched", {2, 64, 48});
  add_weight(*model.mutable_graph(), "filter", {5, 3, 3, 3});
  const Report report = run(model, int4_options());

  EXPECT_TRUE(report.tensors.empty());
  ASSERT_EQ(report.skipped.size(), 2u);
  EXPECT_NE(report.skipped[0].reason.find("rank 3"), std::string::npos);
  EXPECT_NE(report.skipped[1].reason.find("INT4 applies to MatMul"), std::string::npos);
  EXPECT_EQ(graph::opset_version(model, "com.microsoft"), 0);
}

TEST(QuantizeInt4, PaddingLargerThanWeightStaysFloat) {
  onnx::ModelProto model = matmul_model(16, 64);
  QuantizeOptions options = int4_options();
  options.block_size = 128;
  const Report report = run(model, options);

  EXPECT_TRUE(report.tensors.empty());
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].reason.find("padded"), std::string::npos);
}

TEST(QuantizeInt4, SharedWeightPackedOnce) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x, float[B, 64] x2) => (float[B, 48] y, float[B, 48] y2) {
  y = MatMul (x, w)
  y2 = MatMul (x2, w)
}
)ONNX");
  add_weight(*model.mutable_graph(), "w", {64, 48});
  const Report report = run(model, int4_options());

  EXPECT_EQ(count_ops(model.graph(), "MatMulNBits"), 2);
  EXPECT_EQ(model.graph().initializer_size(), 2);
  EXPECT_EQ(model.graph().node(0).input(1), model.graph().node(1).input(1));
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].nodes.size(), 2u);
}

TEST(QuantizeOptionsCheck, RejectsInvalidOptions) {
  onnx::ModelProto model = matmul_model();
  QuantizeOptions options = int4_options();
  options.block_size = 24;
  EXPECT_THROW(run(model, options), UsageError);
  options.block_size = 8;
  EXPECT_THROW(run(model, options), UsageError);
  options = int8_options();
  options.min_elements = -1;
  EXPECT_THROW(run(model, options), UsageError);
}

TEST(QuantizeModelCheck, UndefinedInputIsModelError) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x) => (float[B, 48] y) { y = MatMul (x, missing) }
)ONNX");
  EXPECT_THROW(run(model, int8_options()), ModelError);
}

}  // namespace
}  // namespace onnxquant
