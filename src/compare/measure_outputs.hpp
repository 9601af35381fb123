// Runs a reference and a candidate model on the same samples and measures their outputs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compare/model_interface.hpp"
#include "onnxquant/evaluation.hpp"

namespace onnxquant::compare {

// Runs both models on every sample and returns the figures of each output, in the reference's
// output order. An output is logits when its reference type is a float type, its last dimension is
// at least 2, and its name contains "logits" (any letter case) or its last dimension equals
// `vocab_size` (when positive). The feeds must fit the reference's inputs; they are converted to the
// candidate's float types and checked against its inputs (UsageError). Throws ModelError when the
// models return outputs of different shapes for the same sample, or an output that is not numeric.
// `sources` names the input file of each input, for messages.
std::vector<OutputEvaluation> measure_outputs(const ModelUnderTest& reference, const ModelUnderTest& candidate,
                                              const std::vector<Feeds>& samples, int64_t vocab_size,
                                              const std::vector<std::map<std::string, std::string>>& sources = {});

}  // namespace onnxquant::compare
