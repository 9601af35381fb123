// Accuracy evaluation: a reference model and a candidate model run on the same inputs, and figures
// of how far the candidate's outputs are from the reference's. docs/evaluation.md defines them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onnxquant {

// Values of symbolic input dimensions that the user did not set (see docs/evaluation.md for how a
// dimension's name selects one).
inline constexpr int64_t kDefaultBatchSize = 1;
inline constexpr int64_t kDefaultSequenceLength = 16;
inline constexpr int64_t kDefaultPastSequenceLength = 0;
inline constexpr int64_t kDefaultOtherDimension = 1;
// Generated integer inputs that feed no Gather table take values in [0, this) unless the user gives
// a vocabulary size.
inline constexpr int64_t kDefaultVocabularySize = 100;
inline constexpr int64_t kDefaultSamples = 1;
// Generated samples per run; each sample runs both models once.
inline constexpr int64_t kMaxSamples = 100000;

// Limits for CI. A gate that is not set is not checked; every set gate applies to every output it
// can measure.
struct AccuracyGates {
  std::optional<double> max_kl;         // mean KL divergence of each logits output, in nats
  std::optional<double> min_cosine;     // cosine similarity of each output
  std::optional<double> max_abs_error;  // largest absolute error of each output
  std::optional<double> min_top1;       // top-1 agreement of each logits output, from 0 to 1

  bool any() const { return max_kl || min_cosine || max_abs_error || min_top1; }
};

struct EvaluationOptions {
  // Input files: "NAME=FILE" entries (a .npy or TensorProto file per graph input), or one folder in
  // the ONNX backend test layout. Empty: inputs are generated from the model's input types.
  std::vector<std::string> input_files;
  // Generated inputs only; unset means kDefaultSamples samples and seed 0.
  std::optional<int64_t> samples;
  std::optional<uint64_t> seed;
  // Values of symbolic dimensions by name, for generated inputs.
  std::map<std::string, int64_t> dims;
  // The vocabulary: the range of integer inputs that feed no Gather table, and the last dimension
  // that marks an output as logits. 0: the row count of the model's largest embedding table.
  int64_t vocab_size = 0;
  // When not empty, the inputs are written here as test_data_set_K/input_I.pb.
  std::filesystem::path save_inputs;
  int threads = 0;  // evaluator threads, counting the calling one; 0 for one per hardware thread
  AccuracyGates gates;
  // The options that set input_files and samples, named in messages: `quantize` calls them
  // --eval-inputs and --eval-samples.
  std::string inputs_option = "--inputs";
  std::string samples_option = "--samples";
};

struct OutputEvaluation {
  std::string name;
  std::string dtype_reference;
  std::string dtype_candidate;
  std::vector<int64_t> shape;  // of the first sample
  uint64_t elements = 0;       // over all samples
  // Positions where both outputs are finite. When there are none, the comparison is empty: every
  // figure below is NaN and every gate that applies to the output fails.
  uint64_t compared_elements = 0;
  double max_abs_error = 0.0;
  double mean_abs_error = 0.0;
  double relative_l2_error = 0.0;
  double cosine_similarity = 1.0;
  // Positions where one output is NaN or infinite and the other differs; see docs/evaluation.md.
  uint64_t nonfinite_mismatches = 0;
  // Logits (a float output named like "logits", or whose last dimension is the vocabulary size):
  // softmax over the last axis.
  bool logits = false;
  uint64_t rows = 0;
  double top1_agreement = 0.0;
  double kl_divergence = 0.0;  // mean over rows, in nats
  double kl_divergence_max = 0.0;

  // False for an empty comparison: no position is finite in both outputs and none mismatches.
  bool measured() const { return compared_elements > 0 || nonfinite_mismatches > 0; }
};

struct GateViolation {
  std::string gate;    // the option, for example "--min-cosine"
  std::string output;  // empty when no output could be measured by the gate
  double value = 0.0;  // NaN when the figure is undefined
  double limit = 0.0;
  bool empty_comparison = false;  // the output has no finite elements to compare
};

struct EvaluationReport {
  std::string reference_path;
  std::string candidate_path;
  std::string input_source;  // "generated" or "files"
  std::vector<std::string> input_files;
  int64_t samples = 0;
  std::optional<uint64_t> seed;  // generated inputs only
  // Values of the symbolic dimensions in the first sample.
  std::map<std::string, int64_t> dims;
  int64_t vocab_size = 0;  // 0 when unknown
  std::string vocab_source;
  std::vector<OutputEvaluation> outputs;
  AccuracyGates gates;
  std::vector<GateViolation> violations;
  double wall_time_seconds = 0.0;
};

// Throws UsageError for options out of range: samples outside [1, kMaxSamples], a negative
// dimension, vocabulary size or thread count, samples, a seed or dimensions together with input files, gates that
// are NaN or outside the range of their figure.
void validate_evaluation_options(const EvaluationOptions& options);

// Every gate that an output fails, in the order of the outputs. A gate on logits figures fails
// with an empty output name when no output is logits, and every gate fails on an output whose
// comparison is empty (no compared elements and no non-finite mismatches).
std::vector<GateViolation> check_gates(const std::vector<OutputEvaluation>& outputs, const AccuracyGates& gates);

// One line naming the gate, the output, the figure and the limit.
std::string describe_violation(const GateViolation& violation);

// A table of the figures per output for a terminal, followed by the gate results.
std::string format_evaluation_table(const EvaluationReport& report);

}  // namespace onnxquant
