// Graph rewrites of the --format choices (INT4 QDQ, INT8 MatMulNBits, INT8 dynamic) and their
// kernels, on small models written in ONNX's textual format.
#include <cmath>
#include <string>
#include <vector>

#include "graph/opset.hpp"
#include "kernels/axis_block_quantization.hpp"
#include "kernels/block_quantization.hpp"
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
using testing::random_values;

// TensorProto.DataType values of ONNX 1.16 and later.
constexpr int32_t kUint4 = 21;
constexpr int32_t kInt4 = 22;

QuantizeOptions format_options(Precision precision, WeightFormat format) {
  QuantizeOptions options;
  options.precision = precision;
  options.format = format;
  options.min_elements = 0;
  options.scale_search = ScaleSearch::kNone;
  return options;
}

onnx::ModelProto matmul_model(int64_t k, int64_t n, int opset = 17) {
  const std::string text = "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n" +
                           "g (float[B, " + std::to_string(k) + "] x) => (float[B, " + std::to_string(n) +
                           "] y) {\n  y = MatMul (x, w)\n}\n";
  onnx::ModelProto model = parse_model(text.c_str());
  add_weight(*model.mutable_graph(), "w", {k, n}, 7);
  return model;
}

Report run(onnx::ModelProto& model, const QuantizeOptions& options) {
  Report report;
  quantize_model(model, options, report);
  return report;
}

std::vector<float> float_values(const onnx::TensorProto& tensor) { return io::read_float_values(tensor); }

// Decodes a 4-bit tensor's raw_data: element 2i in the low nibble of byte i, 2i + 1 in the high.
std::vector<int32_t> unpack_4bit(const onnx::TensorProto& tensor, size_t count, bool is_signed) {
  std::vector<int32_t> codes(count);
  const std::string& raw = tensor.raw_data();
  for (size_t i = 0; i < count; ++i) {
    const auto byte = static_cast<uint8_t>(raw[i / 2]);
    int32_t code = i % 2 == 0 ? byte & 0x0f : byte >> 4;
    if (is_signed && code >= 8) code -= 16;
    codes[i] = code;
  }
  return codes;
}

// --- INT4 QDQ ---------------------------------------------------------------------------------

TEST(Int4Qdq, MatMulWeightBecomesBlockedDequantize) {
  onnx::ModelProto model = matmul_model(40, 6);
  QuantizeOptions options = format_options(Precision::kInt4, WeightFormat::kQdq);
  options.block_size = 16;
  const Report report = run(model, options);

  const auto& graph = model.graph();
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(graph::opset_version(model, ""), 21);
  EXPECT_EQ(model.ir_version(), 10);
  EXPECT_EQ(graph::opset_version(model, "com.microsoft"), 0);
  EXPECT_EQ(count_ops(graph, "MatMul"), 1);
  const onnx::NodeProto* dequantize = find_node_by_op(graph, "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  EXPECT_EQ(dequantize->output(0), "w");
  ASSERT_EQ(dequantize->input_size(), 2);
  ASSERT_NE(find_attribute(*dequantize, "axis"), nullptr);
  EXPECT_EQ(find_attribute(*dequantize, "axis")->i(), 0);
  ASSERT_NE(find_attribute(*dequantize, "block_size"), nullptr);
  EXPECT_EQ(find_attribute(*dequantize, "block_size")->i(), 16);

  const onnx::TensorProto* data = find_initializer(graph, dequantize->input(0));
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->data_type(), kInt4);
  EXPECT_EQ(dims(*data), (std::vector<int64_t>{40, 6}));
  EXPECT_EQ(data->raw_data().size(), 120u);
  const onnx::TensorProto* scale = find_initializer(graph, dequantize->input(1));
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->data_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(dims(*scale), (std::vector<int64_t>{3, 6}));

  const TensorReport& entry = report.tensors[0];
  EXPECT_EQ(entry.dtype_after, "int4");
  EXPECT_EQ(entry.scheme, "block");
  EXPECT_EQ(entry.block_size, 16);
  EXPECT_EQ(entry.bytes_after, 120u + 18u * 4u);
  EXPECT_GT(entry.scale_min, 0.0);
}

TEST(Int4Qdq, DecodedCodesWithinOneStep) {
  onnx::ModelProto model = matmul_model(40, 6);
  const std::vector<float> original = float_values(*find_initializer(model.graph(), "w"));
  QuantizeOptions options = format_options(Precision::kInt4, WeightFormat::kQdq);
  options.block_size = 16;
  run(model, options);

  const onnx::NodeProto* dequantize = find_node_by_op(model.graph(), "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  const std::vector<int32_t> codes = unpack_4bit(*find_initializer(model.graph(), dequantize->input(0)), 240, true);
  const std::vector<float> scales = float_values(*find_initializer(model.graph(), dequantize->input(1)));
  for (int64_t k = 0; k < 40; ++k) {
    for (int64_t n = 0; n < 6; ++n) {
      const float scale = scales[(k / 16) * 6 + n];
      const float restored = static_cast<float>(codes[k * 6 + n]) * scale;
      EXPECT_LE(std::fabs(restored - original[k * 6 + n]), scale * 0.5f * (1.0f + 1e-5f)) << "k " << k << " n " << n;
    }
  }
}

TEST(Int4Qdq, AsymmetricWritesUint4ZeroPoints) {
  onnx::ModelProto model = matmul_model(64, 8);
  QuantizeOptions options = format_options(Precision::kInt4, WeightFormat::kQdq);
  options.asymmetric = true;
  const Report report = run(model, options);

  const onnx::NodeProto* dequantize = find_node_by_op(model.graph(), "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  ASSERT_EQ(dequantize->input_size(), 3);
  EXPECT_EQ(find_initializer(model.graph(), dequantize->input(0))->data_type(), kUint4);
  const onnx::TensorProto* zero_point = find_initializer(model.graph(), dequantize->input(2));
  ASSERT_NE(zero_point, nullptr);
  EXPECT_EQ(zero_point->data_type(), kUint4);
  EXPECT_EQ(dims(*zero_point), (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(zero_point->raw_data().size(), 8u);
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].dtype_after, "uint4");
}

TEST(Int4Qdq, Float16WeightGetsFloat16Scales) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float16[B, 64] x) => (float16[B, 48] y) { y = MatMul (x, w) }
)ONNX");
  *model.mutable_graph()->add_initializer() = io::make_float16_tensor("w", {64, 48}, random_values(64 * 48, 5));
  run(model, format_options(Precision::kInt4, WeightFormat::kQdq));

  const onnx::NodeProto* dequantize = find_node_by_op(model.graph(), "DequantizeLinear");
  ASSERT_NE(dequantize, nullptr);
  EXPECT_EQ(dequantize->output(0), "w");
  EXPECT_EQ(find_initializer(model.graph(), dequantize->input(1))->data_type(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(count_ops(model.graph(), "Cast"), 0);
}

TEST(Int4Qdq, OpsetRaiseRewritesReduceAndSplit) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[B, 64] x) => (float[B, 1] m, float[B, 24] s1, float[B, 24] s2) {
  y = MatMul (x, w)
  m = ReduceMean <axes = [1]> (y)
  s1, s2 = Split <axis = 1> (y)
}
)ONNX");
  add_weight(*model.mutable_graph(), "w", {64, 48});
  const Report report = run(model, format_options(Precision::kInt4, WeightFormat::kQdq));

  EXPECT_EQ(graph::opset_version(model, ""), 21);
  const onnx::NodeProto* reduce = find_node_by_op(model.graph(), "ReduceMean");
  ASSERT_NE(reduce, nullptr);
  EXPECT_EQ(find_attribute(*reduce, "axes"), nullptr);
  ASSERT_EQ(reduce->input_size(), 2);
  const onnx::TensorProto* axes = find_initializer(model.graph(), reduce->input(1));
  ASSERT_NE(axes, nullptr);
  EXPECT_EQ(axes->data_type(), onnx::TensorProto::INT64);
  ASSERT_EQ(axes->int64_data_size(), 1);
  EXPECT_EQ(axes->int64_data(0), 1);
  const onnx::NodeProto* split = find_node_by_op(model.graph(), "Split");
  ASSERT_NE(split, nullptr);
  ASSERT_NE(find_attribute(*split, "num_outputs"), nullptr);
  EXPECT_EQ(find_attribute(*split, "num_outputs")->i(), 2);
  EXPECT_EQ(count_ops(model.graph(), "DequantizeLinear"), 1);
  EXPECT_FALSE(report.notes.empty());
}

TEST(Int4Qdq, ChangedOperatorFallsBackToMatMulNBits) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 1, 4, 64] x, float[1, 4, 4, 2] grid) => (float[1, 1, 4, 48] y, float[1, 1, 4, 4] z) {
  y = MatMul (x, w)
  z = GridSample <mode = "bilinear"> (x, grid)
}
)ONNX");
  add_weight(*model.mutable_graph(), "w", {64, 48});
  const Report report = run(model, format_options(Precision::kInt4, WeightFormat::kQdq));

  EXPECT_EQ(graph::opset_version(model, ""), 17);
  EXPECT_EQ(count_ops(model.graph(), "MatMulNBits"), 1);
  EXPECT_EQ(count_ops(model.graph(), "DequantizeLinear"), 0);
  EXPECT_EQ(report.options.format, WeightFormat::kMatMulNBits);
  ASSERT_FALSE(report.notes.empty());
  EXPECT_NE(report.notes[0].find("GridSample"), std::string::npos);
  EXPECT_NE(report.notes[0].find("MatMulNBits instead"), std::string::npos);
}

TEST(Int4QdqKernel, SymmetricScaleCoversBothExtremes) {
  // Block of 4: min -8 needs scale 1, max 3.5 needs 0.5; the larger keeps both in [-8, 7].
  const std::vector<float> weight = {-8.0f, 3.5f, 0.0f, 1.0f};
  const auto quantized = kernels::quantize_axis_blocks_4bit(weight, 4, 1, 4, true, kernels::ScaleType::kFloat32);
  ASSERT_EQ(quantized.scales.size(), 1u);
  EXPECT_FLOAT_EQ(quantized.scales[0], 1.0f);
  EXPECT_EQ(quantized.codes, (std::vector<int8_t>{-8, 4, 0, 1}));

  const std::vector<float> positive = {7.0f, 1.0f};
  const auto scaled = kernels::quantize_axis_blocks_4bit(positive, 2, 1, 2, true, kernels::ScaleType::kFloat32);
  EXPECT_FLOAT_EQ(scaled.scales[0], 1.0f);
  EXPECT_EQ(scaled.codes, (std::vector<int8_t>{7, 1}));
}

TEST(Int4QdqKernel, PackLowNibbleFirst) {
  const std::vector<int8_t> codes = {-8, 7, 1};
  EXPECT_EQ(kernels::pack_4bit(codes), (std::vector<uint8_t>{0x78, 0x01}));
}

TEST(Int4QdqKernel, SearchKeepsScalesPositive) {
  const std::vector<float> weight = random_values(64 * 8, 11);
  const auto quantized = kernels::quantize_axis_blocks_4bit(weight, 64, 8, 16, true, kernels::ScaleType::kFloat32, true);
  for (float scale : quantized.scales) EXPECT_GT(scale, 0.0f);
}

// --- INT8 MatMulNBits -------------------------------------------------------------------------

TEST(MatMulNBits8, MatMulBecomesEightBitNode) {
  onnx::ModelProto model = matmul_model(40, 6);
  const Report report = run(model, format_options(Precision::kInt8, WeightFormat::kMatMulNBits));

  const auto& graph = model.graph();
  const onnx::NodeProto* node = find_node_by_op(graph, "MatMulNBits");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->domain(), "com.microsoft");
  EXPECT_EQ(find_attribute(*node, "bits")->i(), 8);
  EXPECT_EQ(find_attribute(*node, "block_size")->i(), 32);
  EXPECT_EQ(find_attribute(*node, "K")->i(), 40);
  EXPECT_EQ(find_attribute(*node, "N")->i(), 6);
  ASSERT_EQ(node->input_size(), 3);
  EXPECT_EQ(dims(*find_initializer(graph, node->input(1))), (std::vector<int64_t>{6, 2, 32}));
  EXPECT_EQ(dims(*find_initializer(graph, node->input(2))), (std::vector<int64_t>{6, 2}));
  EXPECT_EQ(graph::opset_version(model, "com.microsoft"), 1);
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].dtype_after, "int8");
  EXPECT_EQ(report.tensors[0].bytes_after, 6u * 2u * 32u + 12u * 4u);
}

TEST(MatMulNBits8, AsymmetricZeroPointsOnePerByte) {
  onnx::ModelProto model = matmul_model(96, 4);
  QuantizeOptions options = format_options(Precision::kInt8, WeightFormat::kMatMulNBits);
  options.asymmetric = true;
  run(model, options);

  const onnx::NodeProto* node = find_node_by_op(model.graph(), "MatMulNBits");
  ASSERT_NE(node, nullptr);
  ASSERT_EQ(node->input_size(), 4);
  const onnx::TensorProto* zero_points = find_initializer(model.graph(), node->input(3));
  EXPECT_EQ(zero_points->data_type(), onnx::TensorProto::UINT8);
  EXPECT_EQ(dims(*zero_points), (std::vector<int64_t>{4, 3}));
}

TEST(MatMulNBits8Kernel, LargestMagnitudeExactAtCodeZero) {
  // One column, one block of 4: m = -2.56 gives scale m / -128 = 0.02 and code 0 for m.
  const std::vector<float> weight = {0.5f, -2.56f, 1.0f, 0.0f};
  const auto quantized = kernels::quantize_blockwise(weight, 4, 1, 4, 8, true, kernels::ScaleType::kFloat32);
  EXPECT_FLOAT_EQ(quantized.scales[0], 0.02f);
  ASSERT_EQ(quantized.packed.size(), 4u);
  EXPECT_EQ(quantized.packed[1], 0);
  EXPECT_EQ(quantized.packed[3], 128);
  const std::vector<float> restored = kernels::dequantize_blockwise(quantized);
  EXPECT_FLOAT_EQ(restored[1], -2.56f);
  for (size_t i = 0; i < weight.size(); ++i) EXPECT_NEAR(restored[i], weight[i], 0.01f + 1e-6f);
}

TEST(MatMulNBits8Kernel, TailBlockPaddedWithZeroPoint) {
  const std::vector<float> weight = random_values(20, 3);
  const auto quantized = kernels::quantize_blockwise(weight, 20, 1, 16, 8, false, kernels::ScaleType::kFloat32);
  ASSERT_EQ(quantized.packed.size(), 32u);
  ASSERT_EQ(quantized.zero_points.size(), 2u);
  for (size_t j = 4; j < 16; ++j) EXPECT_EQ(quantized.packed[16 + j], quantized.zero_points[1]) << j;
}

// --- INT8 dynamic -----------------------------------------------------------------------------

TEST(DynamicInt8, MatMulBecomesIntegerMatMul) {
  onnx::ModelProto model = matmul_model(64, 48);
  const Report report = run(model, format_options(Precision::kInt8, WeightFormat::kDynamic));

  const auto& graph = model.graph();
  ASSERT_EQ(graph.node_size(), 5);
  EXPECT_EQ(graph.node(0).op_type(), "DynamicQuantizeLinear");
  EXPECT_EQ(graph.node(0).input(0), "x");
  EXPECT_EQ(graph.node(1).op_type(), "Mul");
  const onnx::NodeProto& matmul = graph.node(2);
  EXPECT_EQ(matmul.op_type(), "MatMulInteger");
  EXPECT_EQ(matmul.input(0), graph.node(0).output(0));
  EXPECT_EQ(matmul.input(2), graph.node(0).output(2));
  EXPECT_EQ(graph.node(3).op_type(), "Cast");
  EXPECT_EQ(find_attribute(graph.node(3), "to")->i(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(graph.node(4).op_type(), "Mul");
  EXPECT_EQ(graph.node(4).output(0), "y");
  EXPECT_EQ(graph.node(4).input(1), graph.node(1).output(0));

  const onnx::TensorProto* weight = find_initializer(graph, matmul.input(1));
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(weight->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(dims(*weight), (std::vector<int64_t>{64, 48}));
  const onnx::TensorProto* zero_point = find_initializer(graph, matmul.input(3));
  EXPECT_EQ(zero_point->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(zero_point->dims_size(), 0);
  EXPECT_EQ(find_initializer(graph, "w"), nullptr);
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].dtype_after, "int8");
  EXPECT_EQ(report.tensors[0].scheme, "per-tensor");
}

TEST(DynamicInt8, PerChannelAsymmetricUsesColumnParameters) {
  onnx::ModelProto model = matmul_model(64, 48);
  QuantizeOptions options = format_options(Precision::kInt8, WeightFormat::kDynamic);
  options.per_channel = true;
  options.asymmetric = true;
  const Report report = run(model, options);

  const onnx::NodeProto* matmul = find_node_by_op(model.graph(), "MatMulInteger");
  ASSERT_NE(matmul, nullptr);
  EXPECT_EQ(find_initializer(model.graph(), matmul->input(1))->data_type(), onnx::TensorProto::UINT8);
  const onnx::TensorProto* zero_point = find_initializer(model.graph(), matmul->input(3));
  EXPECT_EQ(zero_point->data_type(), onnx::TensorProto::UINT8);
  EXPECT_EQ(dims(*zero_point), std::vector<int64_t>{48});
  const onnx::NodeProto* scale_mul = find_node_by_op(model.graph(), "Mul");
  EXPECT_EQ(dims(*find_initializer(model.graph(), scale_mul->input(1))), std::vector<int64_t>{48});
  ASSERT_EQ(report.tensors.size(), 1u);
  EXPECT_EQ(report.tensors[0].dtype_after, "uint8");
  EXPECT_EQ(report.tensors[0].axis, 1);
}

TEST(DynamicInt8, SharedActivationQuantizedOnce) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x) => (float[B, 48] y) {
  h = Relu (x)
  q = MatMul (h, wq)
  k = MatMul (h, wk)
  y = Add (q, k)
}
)ONNX");
  // wk is listed first, so the pass meets the second MatMul first.
  add_weight(*model.mutable_graph(), "wk", {64, 48}, 2);
  add_weight(*model.mutable_graph(), "wq", {64, 48}, 3);
  run(model, format_options(Precision::kInt8, WeightFormat::kDynamic));

  const auto& graph = model.graph();
  EXPECT_EQ(count_ops(graph, "DynamicQuantizeLinear"), 1);
  EXPECT_EQ(count_ops(graph, "MatMulInteger"), 2);
  EXPECT_EQ(graph.node(0).op_type(), "Relu");
  EXPECT_EQ(graph.node(1).op_type(), "DynamicQuantizeLinear");
  EXPECT_EQ(graph.node(graph.node_size() - 1).op_type(), "Add");
}

TEST(DynamicInt8, SubgraphMatMulReadsOuterWeight) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[B, 64] x) => (float[B, 48] y) {
  y = If (c) <
    then_branch = t () => (float[B, 48] a) { a = MatMul (x, w) },
    else_branch = e () => (float[B, 48] b) { b = MatMul (x, w) }
  >
}
)ONNX");
  add_weight(*model.mutable_graph(), "w", {64, 48});
  const Report report = run(model, format_options(Precision::kInt8, WeightFormat::kDynamic));

  ASSERT_EQ(report.tensors.size(), 1u);
  const auto& main_graph = model.graph();
  EXPECT_EQ(find_initializer(main_graph, "w"), nullptr);
  ASSERT_EQ(main_graph.node_size(), 1);
  for (const auto& attribute : main_graph.node(0).attribute()) {
    const onnx::GraphProto& branch = attribute.g();
    EXPECT_EQ(count_ops(branch, "MatMul"), 0) << attribute.name();
    EXPECT_EQ(count_ops(branch, "DynamicQuantizeLinear"), 1) << attribute.name();
    EXPECT_EQ(count_ops(branch, "MatMulInteger"), 1) << attribute.name();
    EXPECT_EQ(branch.node(branch.node_size() - 1).output(0), branch.output(0).name()) << attribute.name();
  }
}

TEST(DynamicInt8, Float16AndGemmWeightsSkipped) {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float16[B, 64] x, float[2, 64] x2) => (float16[B, 48] y, float[2, 48] z) {
  y = MatMul (x, half)
  z = Gemm (x2, full)
}
)ONNX");
  *model.mutable_graph()->add_initializer() = io::make_float16_tensor("half", {64, 48}, random_values(64 * 48, 5));
  add_weight(*model.mutable_graph(), "full", {64, 48});
  const Report report = run(model, format_options(Precision::kInt8, WeightFormat::kDynamic));

  EXPECT_TRUE(report.tensors.empty());
  ASSERT_EQ(report.skipped.size(), 2u);
  EXPECT_NE(report.skipped[0].reason.find("float32 activations"), std::string::npos);
  EXPECT_NE(report.skipped[1].reason.find("INT8 dynamic applies to MatMul"), std::string::npos);
  EXPECT_EQ(count_ops(model.graph(), "DynamicQuantizeLinear"), 0);
}

// --- option combinations ----------------------------------------------------------------------

TEST(FormatOptions, RejectsInvalidCombinations) {
  onnx::ModelProto model = matmul_model(64, 48);
  EXPECT_THROW(run(model, format_options(Precision::kFp16, WeightFormat::kQdq)), UsageError);
  EXPECT_THROW(run(model, format_options(Precision::kInt4, WeightFormat::kDynamic)), UsageError);
  QuantizeOptions options = format_options(Precision::kInt8, WeightFormat::kMatMulNBits);
  options.per_channel = true;
  EXPECT_THROW(run(model, options), UsageError);
  options = format_options(Precision::kInt4, WeightFormat::kQdq);
  options.accuracy_level = 4;
  EXPECT_THROW(run(model, options), UsageError);
  options = format_options(Precision::kInt8, WeightFormat::kDynamic);
  options.accuracy_level = 4;
  EXPECT_THROW(run(model, options), UsageError);
  EXPECT_NO_THROW(run(model, format_options(Precision::kInt8, WeightFormat::kMatMulNBits)));
}

}  // namespace
}  // namespace onnxquant
