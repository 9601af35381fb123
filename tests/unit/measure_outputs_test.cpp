// The comparison loop with models replaced by functions, so that the outputs are known exactly.
#include "compare/measure_outputs.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <onnx/onnx_pb.h>

#include "compare/tensor_values.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::compare {
namespace {

using onnx::TensorProto;

constexpr double kTolerance = 1.0e-12;

eval::Tensor float_tensor(const std::vector<int64_t>& shape, const std::vector<double>& values,
                          int32_t dtype = TensorProto::FLOAT) {
  return from_doubles(dtype, shape, values);
}

// A model with input x [2] and outputs logits [2, 2] and hidden [2]. The logits are {x0, x1, x1, x0}
// plus `shift` on the very first value, and hidden is x * scale.
ModelUnderTest fake_model(const std::string& label, double shift, double scale, int32_t input_dtype = TensorProto::FLOAT) {
  ModelUnderTest model;
  model.label = label;
  model.inputs = {{"x", input_dtype, {2}, {""}}};
  model.outputs = {{"logits", TensorProto::FLOAT, {2, 2}, {"", ""}}, {"hidden", TensorProto::FLOAT, {2}, {""}}};
  model.run = [shift, scale, input_dtype](const Feeds& feeds) {
    const eval::Tensor& x = feeds.at("x");
    EXPECT_EQ(x.dtype, input_dtype);
    const std::vector<double> v = to_doubles(x);
    Feeds outputs;
    outputs["logits"] = float_tensor({2, 2}, {v[0] + shift, v[1], v[1], v[0]});
    outputs["hidden"] = float_tensor({2}, {v[0] * scale, v[1] * scale});
    return outputs;
  };
  return model;
}

// KL(softmax(a0, a1) || softmax(b0, b1)) from the definition.
double two_class_kl(double a0, double a1, double b0, double b1) {
  const double p0 = std::exp(a0) / (std::exp(a0) + std::exp(a1));
  const double q0 = std::exp(b0) / (std::exp(b0) + std::exp(b1));
  return p0 * std::log(p0 / q0) + (1 - p0) * std::log((1 - p0) / (1 - q0));
}

Feeds sample(double x0, double x1) { return {{"x", float_tensor({2}, {x0, x1})}}; }

TEST(MeasureOutputs, IdenticalModels) {
  const auto results = measure_outputs(fake_model("A", 0, 1), fake_model("B", 0, 1), {sample(1, 2)}, 0);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].name, "logits");
  EXPECT_TRUE(results[0].logits);
  EXPECT_EQ(results[0].rows, 2u);
  EXPECT_EQ(results[0].top1_agreement, 1.0);
  EXPECT_EQ(results[0].kl_divergence, 0.0);
  EXPECT_EQ(results[0].max_abs_error, 0.0);
  EXPECT_EQ(results[1].name, "hidden");
  EXPECT_FALSE(results[1].logits);
  EXPECT_EQ(results[1].shape, (std::vector<int64_t>{2}));
}

TEST(MeasureOutputs, HandComputedFiguresOverTwoSamples) {
  // hidden: reference x, candidate 2x. Samples (1, 0) and (0, 2) give a = {1, 0, 0, 2} and
  // b = {2, 0, 0, 4}: max error 2, mean 3/4, relative L2 1, cosine 1.
  // logits: the candidate adds ln 3 to the first score. Sample 1 rows: (1, 0) vs (1 + ln 3, 0) and
  // (0, 1) vs (0, 1). Sample 2 rows: (0, 2) vs (ln 3, 2) and (2, 0) vs (2, 0). Every argmax agrees.
  const auto results =
      measure_outputs(fake_model("A", 0, 1), fake_model("B", std::log(3.0), 2), {sample(1, 0), sample(0, 2)}, 0);
  const OutputEvaluation& logits = results[0];
  const OutputEvaluation& hidden = results[1];
  EXPECT_EQ(hidden.elements, 4u);
  EXPECT_EQ(hidden.max_abs_error, 2.0);
  EXPECT_EQ(hidden.mean_abs_error, 0.75);
  EXPECT_NEAR(hidden.relative_l2_error, 1.0, kTolerance);
  EXPECT_NEAR(hidden.cosine_similarity, 1.0, kTolerance);

  EXPECT_EQ(logits.rows, 4u);
  EXPECT_EQ(logits.top1_agreement, 1.0);
  // The logits pass through float32 tensors, so the expectation uses the float32 values.
  const double shifted_one = static_cast<float>(1.0 + std::log(3.0));
  const double shifted_zero = static_cast<float>(std::log(3.0));
  const double row1 = two_class_kl(1.0, 0.0, shifted_one, 0.0);
  const double row3 = two_class_kl(0.0, 2.0, shifted_zero, 2.0);
  EXPECT_NEAR(logits.kl_divergence, (row1 + row3) / 4.0, 1.0e-12);
  EXPECT_NEAR(logits.kl_divergence_max, std::max(row1, row3), 1.0e-12);
}

TEST(MeasureOutputs, TopOneDisagreement) {
  // A shift of -3 on the first score moves the argmax of the row (1, 0) to index 1.
  const auto results = measure_outputs(fake_model("A", 0, 1), fake_model("B", -3, 1), {sample(1, 0)}, 0);
  EXPECT_EQ(results[0].top1_agreement, 0.5);
}

TEST(MeasureOutputs, VocabularyMarksLogits) {
  ModelUnderTest a = fake_model("A", 0, 1);
  ModelUnderTest b = fake_model("B", 0, 1);
  // Renamed, the [2, 2] output is logits only because its last dimension is the vocabulary size.
  for (ModelUnderTest* model : {&a, &b}) {
    model->outputs[0].name = "scores";
    const Runner run = model->run;
    model->run = [run](const Feeds& feeds) {
      Feeds outputs = run(feeds);
      outputs["scores"] = outputs.at("logits");
      outputs.erase("logits");
      return outputs;
    };
  }
  EXPECT_FALSE(measure_outputs(a, b, {sample(1, 0)}, 0)[0].logits);
  EXPECT_TRUE(measure_outputs(a, b, {sample(1, 0)}, 2)[0].logits);
  EXPECT_FALSE(measure_outputs(a, b, {sample(1, 0)}, 3)[0].logits);
}

TEST(MeasureOutputs, FeedsConvertedForFloat16Candidate) {
  // The candidate takes float16 input, as a model quantized with --fp16-io does; its runner checks
  // that it receives float16.
  const auto results =
      measure_outputs(fake_model("A", 0, 1), fake_model("B", 0, 1, TensorProto::FLOAT16), {sample(0.5, 2)}, 0);
  EXPECT_EQ(results[1].max_abs_error, 0.0);
}

TEST(MeasureOutputs, DifferentOutputShapesRejected) {
  ModelUnderTest b = fake_model("B", 0, 1);
  const Runner run = b.run;
  b.run = [run](const Feeds& feeds) {
    Feeds outputs = run(feeds);
    outputs["hidden"].shape = {1, 2};
    return outputs;
  };
  try {
    measure_outputs(fake_model("A", 0, 1), b, {sample(1, 2)}, 0);
    FAIL() << "accepted outputs of different shapes";
  } catch (const ModelError& error) {
    EXPECT_STREQ(error.what(), "output 'hidden' has shape [2] in A but [1, 2] in B for sample 0");
  }
}

TEST(MeasureOutputs, MismatchedInterfacesRejected) {
  ModelUnderTest b = fake_model("B", 0, 1);
  b.outputs.pop_back();
  EXPECT_THROW(measure_outputs(fake_model("A", 0, 1), b, {sample(1, 2)}, 0), ModelError);

  ModelUnderTest c = fake_model("C", 0, 1, TensorProto::INT64);
  try {
    measure_outputs(fake_model("A", 0, 1), c, {sample(1, 2)}, 0);
    FAIL() << "accepted inputs of different types";
  } catch (const ModelError& error) {
    EXPECT_STREQ(error.what(), "the models cannot be compared: input 'x' is float32 in A but int64 in C");
  }

  ModelUnderTest d = fake_model("D", 0, 1);
  d.inputs[0].name = "y";
  EXPECT_THROW(measure_outputs(fake_model("A", 0, 1), d, {sample(1, 2)}, 0), ModelError);

  ModelUnderTest e = fake_model("E", 0, 1);
  e.inputs[0].shape = {3};
  EXPECT_THROW(measure_outputs(fake_model("A", 0, 1), e, {sample(1, 2)}, 0), ModelError);
}

TEST(MeasureOutputs, FeedThatDoesNotFitRejected) {
  const Feeds wrong_shape = {{"x", float_tensor({3}, {1, 2, 3})}};
  try {
    measure_outputs(fake_model("A", 0, 1), fake_model("B", 0, 1), {wrong_shape}, 0, {{{"x", "x.npy"}}});
    FAIL() << "accepted a feed of the wrong shape";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(), "input 'x' (from 'x.npy') has shape [3] but A expects [2]");
  }
  const Feeds wrong_type = {{"x", float_tensor({2}, {1, 2}, TensorProto::DOUBLE)}};
  EXPECT_THROW(measure_outputs(fake_model("A", 0, 1), fake_model("B", 0, 1), {wrong_type}, 0), UsageError);
}

}  // namespace
}  // namespace onnxquant::compare
