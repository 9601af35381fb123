#include "compare/evaluate.hpp"

#include <chrono>
#include <fmt/format.h>
#include <memory>
#include <spdlog/spdlog.h>

#include "compare/embedding_tables.hpp"
#include "compare/input_files.hpp"
#include "compare/measure_outputs.hpp"
#include "compare/model_interface.hpp"
#include "eval/session.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::compare {
namespace {

std::unique_ptr<eval::Session> open_session(const onnx::ModelProto& model, const std::string& label, int threads) {
  eval::SessionOptions options;
  options.threads = threads;
  try {
    return std::make_unique<eval::Session>(model, options);
  } catch (const ModelError& error) {
    throw ModelError(fmt::format("{} cannot be evaluated: {}", label, error.what()));
  }
}

ModelUnderTest describe(eval::Session& session, const std::string& label) {
  return {label, session.inputs(), session.outputs(), [&session](const Feeds& feeds) { return session.run(feeds); }};
}

// The values of the symbolic dimensions in the first sample of input files.
std::map<std::string, int64_t> observed_dims(const std::vector<eval::ValueDescription>& inputs, const Feeds& feeds) {
  std::map<std::string, int64_t> dims;
  for (const auto& input : inputs) {
    const auto feed = feeds.find(input.name);
    if (feed == feeds.end()) continue;
    for (size_t axis = 0; axis < input.dim_params.size() && axis < feed->second.shape.size(); ++axis) {
      if (!input.dim_params[axis].empty()) dims.emplace(input.dim_params[axis], feed->second.shape[axis]);
    }
  }
  return dims;
}

void generate_inputs(const ModelUnderTest& reference, const EmbeddingTables& tables, const EvaluationOptions& options,
                     Evaluation& evaluation) {
  const GenerationPlan plan = plan_inputs(reference.inputs, tables, {options.dims, options.vocab_size});
  for (const auto& line : plan.defaulted_dims) spdlog::info("{}", line);
  for (const auto& input : plan.inputs) {
    spdlog::info("input {} {} {}: {}", io::quoted_name(input.name), io::dtype_name(input.dtype),
                 io::format_shape(input.shape), input.description);
  }

  EvaluationReport& report = evaluation.report;
  report.input_source = "generated";
  report.seed = options.seed.value_or(0);
  report.dims = plan.dims;
  const int64_t samples = options.samples.value_or(kDefaultSamples);
  for (int64_t sample = 0; sample < samples; ++sample) {
    evaluation.samples.push_back(generate_sample(plan, *report.seed, static_cast<uint64_t>(sample)));
  }
}

}  // namespace

Evaluation evaluate(const onnx::ModelProto& reference, const std::string& reference_label,
                    const onnx::ModelProto& candidate, const std::string& candidate_label,
                    const EvaluationOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  validate_evaluation_options(options);
  const auto reference_session = open_session(reference, reference_label, options.threads);
  const auto candidate_session = open_session(candidate, candidate_label, options.threads);
  const ModelUnderTest reference_model = describe(*reference_session, reference_label);
  const ModelUnderTest candidate_model = describe(*candidate_session, candidate_label);
  check_same_interface(reference_model, candidate_model);

  Evaluation evaluation;
  EvaluationReport& report = evaluation.report;
  for (const auto& input : reference_model.inputs) evaluation.input_order.push_back(input.name);
  const EmbeddingTables tables = find_embedding_tables(reference.graph());
  if (options.vocab_size > 0) {
    report.vocab_size = options.vocab_size;
    report.vocab_source = "--vocab-size";
  } else if (tables.vocab_size > 0) {
    report.vocab_size = tables.vocab_size;
    report.vocab_source = fmt::format("rows of the embedding table that input '{}' indexes", tables.vocab_input);
  }

  std::vector<std::map<std::string, std::string>> sources;
  if (options.input_files.empty()) {
    generate_inputs(reference_model, tables, options, evaluation);
  } else {
    InputSamples read = read_input_files(options.input_files, reference_model.inputs, options.inputs_option);
    report.input_source = "files";
    report.input_files = std::move(read.files);
    report.dims = observed_dims(reference_model.inputs, read.samples.front());
    evaluation.samples = std::move(read.samples);
    sources = std::move(read.sources);
  }
  report.samples = static_cast<int64_t>(evaluation.samples.size());

  spdlog::info("running {} and {} on {} sample(s)", reference_label, candidate_label, report.samples);
  report.outputs = measure_outputs(reference_model, candidate_model, evaluation.samples, report.vocab_size, sources);
  report.gates = options.gates;
  report.violations = check_gates(report.outputs, options.gates);
  report.wall_time_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return evaluation;
}

}  // namespace onnxquant::compare
