// Generated model inputs: token ids, attention masks, position ids and random values, chosen from
// each input's name, element type and shape, and reproducible from a seed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compare/embedding_tables.hpp"
#include "eval/session.hpp"
#include "eval/tensor.hpp"

namespace onnxquant::compare {

using Feeds = std::map<std::string, eval::Tensor>;

enum class InputKind {
  kTokenIds,        // uniform integers in [0, range)
  kOnes,            // attention masks
  kPositions,       // first_position, first_position + 1, ... along the last axis
  kStandardNormal,  // float inputs
  kRandomBools,     // true or false with probability 1/2
};

struct InputPlan {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  InputKind kind = InputKind::kStandardNormal;
  int64_t range = 0;
  int64_t first_position = 0;
  std::string description;  // for the log, for example "token ids in [0, 512): rows of its embedding table"
};

struct GenerationSettings {
  std::map<std::string, int64_t> dims;  // symbolic dimension values that the user set
  int64_t vocab_size = 0;               // 0: the model's, else kDefaultVocabularySize
};

struct GenerationPlan {
  std::vector<InputPlan> inputs;
  std::map<std::string, int64_t> dims;  // every symbolic dimension and the value it got
  // One line per dimension that got a default value, saying how to set it.
  std::vector<std::string> defaulted_dims;
};

// Chooses the shape and the kind of values of every input (docs/evaluation.md lists the rules).
// Throws UsageError for a dimension in `settings` that no input has, and for an input whose element
// type cannot be generated (string, complex).
GenerationPlan plan_inputs(const std::vector<eval::ValueDescription>& inputs, const EmbeddingTables& tables,
                           const GenerationSettings& settings);

// The inputs of sample `sample`. The values of input i depend only on (seed, sample, i).
Feeds generate_sample(const GenerationPlan& plan, uint64_t seed, uint64_t sample);

}  // namespace onnxquant::compare
