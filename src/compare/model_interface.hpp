// The inputs and outputs of two models under comparison, and the checks that they match.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "compare/input_generator.hpp"
#include "eval/session.hpp"

namespace onnxquant::compare {

// Runs a model on the feeds and returns every output by name.
using Runner = std::function<Feeds(const Feeds&)>;

struct ModelUnderTest {
  std::string label;  // how messages name the model, for example its path in quotes
  std::vector<eval::ValueDescription> inputs;
  std::vector<eval::ValueDescription> outputs;
  Runner run;
};

// Throws ModelError unless both models have the same input names and output names, and every input
// has the same rank, equal static dimensions and the same element type in both. Float types
// (float16, bfloat16, float32, float64) may differ, because inputs are converted for the candidate.
void check_same_interface(const ModelUnderTest& reference, const ModelUnderTest& candidate);

// Throws UsageError when a tensor of `feeds` is missing or has another element type, rank or static
// dimension than the input of `model` expects. `sources` names where each input came from (an input
// file), for the message.
void check_feeds(const Feeds& feeds, const ModelUnderTest& model, const std::map<std::string, std::string>& sources);

// The feeds converted to the element types of the model's inputs where those are other float types.
Feeds convert_feeds(const Feeds& feeds, const std::vector<eval::ValueDescription>& inputs);

// A shape with symbolic dimensions written by name, for example [batch, 16].
std::string format_declared_shape(const eval::ValueDescription& value);

}  // namespace onnxquant::compare
