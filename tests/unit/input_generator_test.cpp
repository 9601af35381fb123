// Generated inputs: shapes from symbolic dimensions, kinds of values from names and types, the
// vocabulary from embedding tables, and reproducibility from the seed.
#include "compare/input_generator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <onnx/onnx_pb.h>
#include <set>

#include "compare/tensor_values.hpp"
#include "kernels/seeded_random.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/evaluation.hpp"
#include "test_models.hpp"

namespace onnxquant::compare {
namespace {

using onnx::TensorProto;

eval::ValueDescription input(const std::string& name, int32_t dtype, std::vector<int64_t> shape,
                             std::vector<std::string> dim_params = {}) {
  dim_params.resize(shape.size());
  return {name, dtype, std::move(shape), std::move(dim_params)};
}

// input_ids, attention_mask and position_ids of a decoder with a KV cache.
std::vector<eval::ValueDescription> decoder_inputs() {
  return {
      input("input_ids", TensorProto::INT64, {-1, -1}, {"batch_size", "sequence_length"}),
      input("attention_mask", TensorProto::INT64, {-1, -1}, {"batch_size", "total_sequence_length"}),
      input("position_ids", TensorProto::INT64, {-1, -1}, {"batch_size", "sequence_length"}),
      input("past_key_values.0.key", TensorProto::FLOAT, {-1, 4, -1, 8}, {"batch_size", "", "past_sequence_length", ""}),
  };
}

const InputPlan& plan_of(const GenerationPlan& plan, const std::string& name) {
  for (const auto& input : plan.inputs) {
    if (input.name == name) return input;
  }
  throw std::logic_error("no plan for " + name);
}

TEST(InputGenerator, DefaultDimensions) {
  const GenerationPlan plan = plan_inputs(decoder_inputs(), {}, {});
  EXPECT_EQ(plan_of(plan, "input_ids").shape, (std::vector<int64_t>{kDefaultBatchSize, kDefaultSequenceLength}));
  EXPECT_EQ(plan_of(plan, "attention_mask").shape,
            (std::vector<int64_t>{kDefaultBatchSize, kDefaultPastSequenceLength + kDefaultSequenceLength}));
  EXPECT_EQ(plan_of(plan, "past_key_values.0.key").shape,
            (std::vector<int64_t>{kDefaultBatchSize, 4, kDefaultPastSequenceLength, 8}));
  EXPECT_EQ(plan.dims.at("sequence_length"), kDefaultSequenceLength);
  EXPECT_EQ(plan.dims.size(), 4u);
  EXPECT_EQ(plan.defaulted_dims.size(), 4u);
}

TEST(InputGenerator, SequenceNamesWinOverBatch) {
  const std::vector<eval::ValueDescription> inputs = {
      input("input_ids", TensorProto::INT64, {-1, -1}, {"batch_size", "max_seq_len_in_batch"}),
      input("mask", TensorProto::INT64, {-1, -1}, {"num_tokens_per_batch", "batch_length"}),
  };
  const GenerationPlan plan = plan_inputs(inputs, {}, {});
  EXPECT_EQ(plan.dims.at("batch_size"), kDefaultBatchSize);
  EXPECT_EQ(plan.dims.at("max_seq_len_in_batch"), kDefaultSequenceLength);
  EXPECT_EQ(plan.dims.at("num_tokens_per_batch"), kDefaultSequenceLength);
  EXPECT_EQ(plan.dims.at("batch_length"), kDefaultSequenceLength);
  ASSERT_EQ(plan.defaulted_dims.size(), 4u);
  for (const std::string& line : plan.defaulted_dims) {
    if (line.find("batch_size") != std::string::npos) continue;
    EXPECT_NE(line.find("(the sequence length)"), std::string::npos) << line;
  }
}

TEST(InputGenerator, UserDimensionsAndTotalLength) {
  GenerationSettings settings;
  settings.dims = {{"sequence_length", 5}, {"past_sequence_length", 3}, {"batch_size", 2}};
  const GenerationPlan plan = plan_inputs(decoder_inputs(), {}, settings);
  EXPECT_EQ(plan_of(plan, "input_ids").shape, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(plan_of(plan, "attention_mask").shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(plan_of(plan, "past_key_values.0.key").shape, (std::vector<int64_t>{2, 4, 3, 8}));
  EXPECT_EQ(plan.defaulted_dims.size(), 1u);  // total_sequence_length only

  // Position ids continue after the past sequence.
  const Feeds feeds = generate_sample(plan, 0, 0);
  EXPECT_EQ(to_doubles(feeds.at("position_ids")), (std::vector<double>{3, 4, 5, 6, 7, 3, 4, 5, 6, 7}));
}

TEST(InputGenerator, UnknownDimensionRejected) {
  GenerationSettings settings;
  settings.dims = {{"sequence", 4}};
  try {
    plan_inputs(decoder_inputs(), {}, settings);
    FAIL() << "accepted an unknown dimension";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("'sequence_length'"), std::string::npos) << error.what();
  }
}

TEST(InputGenerator, UnnamedDimensions) {
  const GenerationPlan plan = plan_inputs({input("ids", TensorProto::INT32, {-1, -1}),
                                           input("x", TensorProto::FLOAT, {-1, 3, -1})},
                                          {}, {});
  EXPECT_EQ(plan_of(plan, "ids").shape, (std::vector<int64_t>{kDefaultBatchSize, kDefaultSequenceLength}));
  EXPECT_EQ(plan_of(plan, "x").shape, (std::vector<int64_t>{kDefaultBatchSize, 3, kDefaultOtherDimension}));
}

TEST(InputGenerator, ValueKinds) {
  EmbeddingTables tables;
  tables.rows_by_input["input_ids"] = 7;
  tables.vocab_size = 7;
  const GenerationPlan plan = plan_inputs(decoder_inputs(), tables, {});
  EXPECT_EQ(plan_of(plan, "input_ids").kind, InputKind::kTokenIds);
  EXPECT_EQ(plan_of(plan, "input_ids").range, 7);
  EXPECT_EQ(plan_of(plan, "attention_mask").kind, InputKind::kOnes);
  EXPECT_EQ(plan_of(plan, "position_ids").kind, InputKind::kPositions);
  EXPECT_EQ(plan_of(plan, "past_key_values.0.key").kind, InputKind::kStandardNormal);

  const Feeds feeds = generate_sample(plan, 42, 0);
  for (double id : to_doubles(feeds.at("input_ids"))) {
    EXPECT_GE(id, 0.0);
    EXPECT_LT(id, 7.0);
    EXPECT_EQ(id, std::floor(id));
  }
  for (double mask : to_doubles(feeds.at("attention_mask"))) EXPECT_EQ(mask, 1.0);
  EXPECT_EQ(to_doubles(feeds.at("position_ids")).back(), kDefaultSequenceLength - 1);
  EXPECT_EQ(feeds.at("input_ids").dtype, TensorProto::INT64);
}

TEST(InputGenerator, IntegerRanges) {
  EmbeddingTables tables;
  tables.vocab_size = 300;
  const std::vector<eval::ValueDescription> inputs = {input("token_type", TensorProto::INT64, {4}),
                                                      input("small", TensorProto::INT8, {4})};
  // Without --vocab-size the model's vocabulary applies, cut to the type's range.
  GenerationPlan plan = plan_inputs(inputs, tables, {});
  EXPECT_EQ(plan_of(plan, "token_type").range, 300);
  EXPECT_EQ(plan_of(plan, "small").range, 128);

  GenerationSettings settings;
  settings.vocab_size = 50;
  plan = plan_inputs(inputs, tables, settings);
  EXPECT_EQ(plan_of(plan, "token_type").range, 50);

  plan = plan_inputs(inputs, {}, {});
  EXPECT_EQ(plan_of(plan, "token_type").range, kDefaultVocabularySize);
}

TEST(InputGenerator, StringInputRejected) {
  EXPECT_THROW(plan_inputs({input("text", TensorProto::STRING, {1})}, {}, {}), UsageError);
}

TEST(InputGenerator, HugeShapeRejected) {
  GenerationSettings settings;
  settings.dims = {{"sequence_length", int64_t{1} << 40}};
  EXPECT_THROW(plan_inputs(decoder_inputs(), {}, settings), UsageError);
}

TEST(InputGenerator, SeededAndDeterministic) {
  const GenerationPlan plan = plan_inputs(decoder_inputs(), {}, {{{"past_sequence_length", 2}}, 0});
  const Feeds first = generate_sample(plan, 7, 0);
  const Feeds again = generate_sample(plan, 7, 0);
  const Feeds other_sample = generate_sample(plan, 7, 1);
  const Feeds other_seed = generate_sample(plan, 8, 0);
  for (const char* name : {"input_ids", "past_key_values.0.key"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(first.at(name).data, again.at(name).data);
    EXPECT_NE(first.at(name).data, other_sample.at(name).data);
    EXPECT_NE(first.at(name).data, other_seed.at(name).data);
  }
}

TEST(InputGenerator, InputValuesIndependentOfOtherInputs) {
  // Adding a second input leaves the first input's values unchanged, because each input draws from
  // (seed, sample, its index) and the first input keeps index 0.
  const auto x = input("x", TensorProto::FLOAT, {16});
  const Feeds alone = generate_sample(plan_inputs({x}, {}, {}), 3, 0);
  const Feeds with_more = generate_sample(plan_inputs({x, input("y", TensorProto::FLOAT, {16})}, {}, {}), 3, 0);
  EXPECT_EQ(alone.at("x").data, with_more.at("x").data);
}

TEST(InputGenerator, FloatTypesAndBools) {
  const GenerationPlan plan = plan_inputs({input("h", TensorProto::FLOAT16, {1000}), input("d", TensorProto::DOUBLE, {1000}),
                                           input("flag", TensorProto::BOOL, {1000})},
                                          {}, {});
  const Feeds feeds = generate_sample(plan, 0, 0);
  EXPECT_EQ(feeds.at("h").data.size(), 2000u);
  EXPECT_EQ(feeds.at("d").data.size(), 8000u);
  std::set<double> flags;
  for (double flag : to_doubles(feeds.at("flag"))) flags.insert(flag);
  EXPECT_EQ(flags, (std::set<double>{0.0, 1.0}));
}

TEST(SeededRandom, StandardNormalMoments) {
  // 100000 draws: the standard error of the mean is 1/sqrt(100000) = 0.0032, so 0.02 is over 6 of them.
  kernels::SeededRandom random(123);
  double sum = 0.0;
  double squares = 0.0;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const double value = random.standard_normal();
    sum += value;
    squares += value * value;
  }
  EXPECT_NEAR(sum / kDraws, 0.0, 0.02);
  EXPECT_NEAR(squares / kDraws, 1.0, 0.02);
}

TEST(SeededRandom, UniformIndexCoversRange) {
  kernels::SeededRandom random(5);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 10000; ++i) ++counts[random.uniform_index(10)];
  // Each count is binomial(10000, 0.1): mean 1000, standard deviation 30.
  for (int count : counts) EXPECT_NEAR(count, 1000, 150);
}

TEST(SeededRandom, DrawsFollowTheEngineOutput) {
  // The engine is std::mt19937_64, whose output the C++ standard fixes, and the distributions are
  // plain formulas of it, so the values are the same with every standard library.
  std::mt19937_64 engine(11);
  kernels::SeededRandom random(11);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(random.uniform(), static_cast<double>(engine() >> 11) * 0x1p-53);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(random.uniform_index(8), engine() % 8);
}

TEST(SeededRandom, DerivedSeedsDiffer) {
  EXPECT_NE(kernels::derive_seed(1, 0, 0), kernels::derive_seed(1, 0, 1));
  EXPECT_NE(kernels::derive_seed(1, 0, 1), kernels::derive_seed(1, 1, 0));
  EXPECT_NE(kernels::derive_seed(1, 0, 0), kernels::derive_seed(2, 0, 0));
  EXPECT_EQ(kernels::derive_seed(9, 4, 2), kernels::derive_seed(9, 4, 2));
}

}  // namespace
}  // namespace onnxquant::compare
