#include "compare/input_generator.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>
#include <set>

#include "compare/tensor_values.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "kernels/seeded_random.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/evaluation.hpp"

namespace onnxquant::compare {
namespace {

using onnx::TensorProto;

// The largest element count of a generated input. The values pass through a vector of doubles,
// which then takes 2 GiB.
constexpr uint64_t kMaxGeneratedElements = uint64_t{1} << 28;

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

bool is_integer_type(int32_t dtype) {
  return dtype != TensorProto::BOOL && !io::is_float_type(dtype) && is_numeric_type(dtype);
}

// The quantity that a symbolic dimension measures, judged from its name.
enum class DimensionRole { kBatch, kTotalSequence, kPastSequence, kSequence, kOther };

// A sequence-like part wins over "batch", so that a name such as max_seq_len_in_batch is a length.
DimensionRole role_of(const std::string& dimension) {
  const std::string name = lowercase(dimension);
  if (contains(name, "total")) return DimensionRole::kTotalSequence;
  if (contains(name, "past")) return DimensionRole::kPastSequence;
  if (contains(name, "seq") || contains(name, "len") || contains(name, "token")) return DimensionRole::kSequence;
  if (contains(name, "batch")) return DimensionRole::kBatch;
  return DimensionRole::kOther;
}

// The value the user gave to some dimension with `role`, if any.
std::optional<int64_t> user_value_for(const std::map<std::string, int64_t>& dims, DimensionRole role) {
  for (const auto& [name, value] : dims) {
    if (role_of(name) == role) return value;
  }
  return std::nullopt;
}

class DimensionResolver {
 public:
  explicit DimensionResolver(const std::map<std::string, int64_t>& user_dims)
      : user_dims_(user_dims),
        sequence_(user_value_for(user_dims, DimensionRole::kSequence).value_or(kDefaultSequenceLength)),
        past_(user_value_for(user_dims, DimensionRole::kPastSequence).value_or(kDefaultPastSequenceLength)) {}

  int64_t past_length() const { return past_; }

  // The value of a symbolic dimension; records a default with the way to change it.
  int64_t resolve(const std::string& name, GenerationPlan& plan) {
    if (const auto given = user_dims_.find(name); given != user_dims_.end()) return record(name, given->second, plan);
    if (const auto known = plan.dims.find(name); known != plan.dims.end()) return known->second;

    const DimensionRole role = role_of(name);
    int64_t value = kDefaultOtherDimension;
    std::string reason = "the default for dimensions that are not a batch or a sequence";
    switch (role) {
      case DimensionRole::kBatch: value = kDefaultBatchSize; reason = "the default batch size"; break;
      case DimensionRole::kTotalSequence: value = past_ + sequence_; reason = "past plus new sequence length"; break;
      case DimensionRole::kPastSequence: value = past_; reason = "the past sequence length"; break;
      case DimensionRole::kSequence: value = sequence_; reason = "the sequence length"; break;
      case DimensionRole::kOther: break;
    }
    plan.defaulted_dims.push_back(
        fmt::format("dimension '{}' = {} ({}); set it with --dim {}=N", name, value, reason, name));
    return record(name, value, plan);
  }

  // An unnamed dynamic dimension: the batch size on axis 0, the sequence length on the last axis of
  // an integer input, 1 elsewhere.
  int64_t resolve_unnamed(const eval::ValueDescription& input, size_t axis) const {
    if (axis == 0) return kDefaultBatchSize;
    if (axis + 1 == input.shape.size() && is_integer_type(input.dtype)) return sequence_;
    return kDefaultOtherDimension;
  }

 private:
  static int64_t record(const std::string& name, int64_t value, GenerationPlan& plan) {
    plan.dims[name] = value;
    return value;
  }

  const std::map<std::string, int64_t>& user_dims_;
  int64_t sequence_;
  int64_t past_;
};

std::vector<int64_t> concrete_shape(const eval::ValueDescription& input, DimensionResolver& resolver,
                                    GenerationPlan& plan) {
  if (!input.has_shape) {
    throw UsageError(fmt::format("input {} has no declared shape, so no values can be generated for it; give input "
                                 "files with --inputs",
                                 io::quoted_name(input.name)));
  }
  std::vector<int64_t> shape = input.shape;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] >= 0) continue;
    const std::string parameter = axis < input.dim_params.size() ? input.dim_params[axis] : "";
    shape[axis] = parameter.empty() ? resolver.resolve_unnamed(input, axis) : resolver.resolve(parameter, plan);
  }
  return shape;
}

// Cuts the range of drawn integers to the element type, for example to [0, 128) for int8.
int64_t fit_range(int64_t range, int32_t dtype) {
  const uint64_t bits = 8 * io::element_size(dtype);
  const bool is_signed = dtype == TensorProto::INT8 || dtype == TensorProto::INT16 || dtype == TensorProto::INT32 ||
                         dtype == TensorProto::INT64;
  const uint64_t value_bits = is_signed ? bits - 1 : bits;
  if (value_bits >= 63) return range;
  return std::min(range, int64_t{1} << value_bits);
}

void choose_kind(InputPlan& plan, const eval::ValueDescription& input, const EmbeddingTables& tables,
                 const GenerationSettings& settings, int64_t past_length) {
  const std::string name = lowercase(input.name);
  if (contains(name, "mask")) {
    plan.kind = InputKind::kOnes;
    plan.description = "ones (attention mask)";
  } else if (contains(name, "position")) {
    plan.kind = InputKind::kPositions;
    plan.first_position = past_length;
    plan.description = fmt::format("positions {}, {}, ... along the last axis", past_length, past_length + 1);
  } else if (is_integer_type(input.dtype)) {
    plan.kind = InputKind::kTokenIds;
    const auto table = tables.rows_by_input.find(input.name);
    if (table != tables.rows_by_input.end()) {
      plan.range = table->second;
      plan.description = "token ids in [0, {}): the rows of the embedding table it indexes";
    } else if (settings.vocab_size > 0) {
      plan.range = settings.vocab_size;
      plan.description = "integers in [0, {}): --vocab-size";
    } else if (tables.vocab_size > 0) {
      plan.range = tables.vocab_size;
      plan.description = "integers in [0, {}): the model's vocabulary size";
    } else {
      plan.range = kDefaultVocabularySize;
      plan.description = "integers in [0, {}): the default range; set it with --vocab-size N";
    }
    plan.range = fit_range(plan.range, input.dtype);
    plan.description = fmt::format(fmt::runtime(plan.description), plan.range);
  } else if (input.dtype == TensorProto::BOOL) {
    plan.kind = InputKind::kRandomBools;
    plan.description = "random bools";
  } else if (io::is_float_type(input.dtype)) {
    plan.kind = InputKind::kStandardNormal;
    plan.description = "standard normal values";
  } else {
    throw UsageError(fmt::format("input {} has element type {}, for which no values can be generated; give input files "
                                 "with --inputs",
                                 io::quoted_name(input.name), io::dtype_name(input.dtype)));
  }
}

void reject_unknown_dims(const std::vector<eval::ValueDescription>& inputs, const std::map<std::string, int64_t>& dims) {
  std::set<std::string> known;
  for (const auto& input : inputs) {
    for (const auto& parameter : input.dim_params) {
      if (!parameter.empty()) known.insert(parameter);
    }
  }
  for (const auto& [name, value] : dims) {
    if (known.count(name) > 0) continue;
    const std::string listed = known.empty() ? "the inputs have none" : fmt::format("'{}'", fmt::join(known, "', '"));
    throw UsageError(fmt::format("--dim {}={}: no input has a symbolic dimension of that name; the symbolic dimensions "
                                 "are {}",
                                 name, value, listed));
  }
}

std::vector<double> generate_values(const InputPlan& plan, uint64_t count, kernels::SeededRandom& random) {
  std::vector<double> values(count);
  const auto last_axis = plan.shape.empty() ? uint64_t{1} : static_cast<uint64_t>(std::max<int64_t>(plan.shape.back(), 1));
  for (uint64_t i = 0; i < count; ++i) {
    switch (plan.kind) {
      case InputKind::kTokenIds: values[i] = static_cast<double>(random.uniform_index(static_cast<uint64_t>(plan.range))); break;
      case InputKind::kOnes: values[i] = 1.0; break;
      case InputKind::kPositions: values[i] = static_cast<double>(plan.first_position) + static_cast<double>(i % last_axis); break;
      case InputKind::kStandardNormal: values[i] = random.standard_normal(); break;
      case InputKind::kRandomBools: values[i] = random.uniform() < 0.5 ? 0.0 : 1.0; break;
    }
  }
  return values;
}

}  // namespace

GenerationPlan plan_inputs(const std::vector<eval::ValueDescription>& inputs, const EmbeddingTables& tables,
                           const GenerationSettings& settings) {
  reject_unknown_dims(inputs, settings.dims);
  GenerationPlan plan;
  DimensionResolver resolver(settings.dims);
  for (const auto& input : inputs) {
    InputPlan input_plan;
    input_plan.name = input.name;
    input_plan.dtype = input.dtype;
    input_plan.shape = concrete_shape(input, resolver, plan);
    const std::string label = fmt::format("input {}", io::quoted_name(input.name));
    uint64_t count = 0;
    try {
      count = eval::shape_element_count(input_plan.shape);
    } catch (const ModelError&) {
      throw UsageError(fmt::format("{} would have shape {}, whose size overflows; set smaller dimensions with --dim",
                                   label, io::format_shape(input_plan.shape)));
    }
    if (count > kMaxGeneratedElements) {
      throw UsageError(fmt::format("{} would have shape {}, {} elements, more than the limit of {} for generated "
                                   "inputs; set smaller dimensions with --dim",
                                   label, io::format_shape(input_plan.shape), count, kMaxGeneratedElements));
    }
    choose_kind(input_plan, input, tables, settings, resolver.past_length());
    plan.inputs.push_back(std::move(input_plan));
  }
  return plan;
}

Feeds generate_sample(const GenerationPlan& plan, uint64_t seed, uint64_t sample) {
  Feeds feeds;
  for (size_t index = 0; index < plan.inputs.size(); ++index) {
    const InputPlan& input = plan.inputs[index];
    kernels::SeededRandom random(kernels::derive_seed(seed, sample, index));
    const uint64_t count = eval::shape_element_count(input.shape);
    feeds[input.name] = from_doubles(input.dtype, input.shape, generate_values(input, count, random));
  }
  return feeds;
}

}  // namespace onnxquant::compare
