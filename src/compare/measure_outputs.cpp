#include "compare/measure_outputs.hpp"

#include <cctype>
#include <fmt/format.h>
#include <limits>
#include <optional>
#include <spdlog/spdlog.h>

#include "compare/tensor_values.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "kernels/output_metrics.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::compare {
namespace {

bool named_like_logits(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("logits") != std::string::npos;
}

// The figures of one output, accumulated over the samples.
class OutputAccumulator {
 public:
  OutputAccumulator(const eval::ValueDescription& reference, const eval::ValueDescription& candidate)
      : reference_dtype_(reference.dtype) {
    result_.name = reference.name;
    result_.dtype_reference = io::dtype_name(reference.dtype);
    result_.dtype_candidate = io::dtype_name(candidate.dtype);
  }

  void add(const eval::Tensor& reference, const eval::Tensor& candidate, int64_t vocab_size, size_t sample) {
    if (sample == 0) start(reference, vocab_size);
    const std::vector<double> reference_values = to_doubles(reference);
    const std::vector<double> candidate_values = to_doubles(candidate);
    differences_.add(reference_values, candidate_values);
    if (!logits_) return;

    const auto classes = static_cast<int64_t>(classes_);
    if (reference.shape.empty() || reference.shape.back() != classes) {
      throw ModelError(fmt::format("output {} has shape {} in sample {} but its last dimension was {} in sample 0; "
                                   "logits need the same class count in every sample",
                                   io::quoted_name(result_.name), io::format_shape(reference.shape), sample, classes));
    }
    logits_->add(reference_values, candidate_values);
  }

  OutputEvaluation result() const {
    OutputEvaluation result = result_;
    const kernels::DifferenceMetrics metrics = differences_.result();
    result.elements = metrics.elements;
    result.compared_elements = metrics.compared_elements;
    result.max_abs_error = metrics.max_abs_error;
    result.mean_abs_error = metrics.mean_abs_error;
    result.relative_l2_error = metrics.relative_l2_error;
    result.cosine_similarity = metrics.cosine_similarity;
    result.nonfinite_mismatches = metrics.nonfinite_mismatches;
    if (logits_) {
      const kernels::LogitMetrics logit_metrics = logits_->result();
      result.logits = true;
      result.rows = logit_metrics.rows;
      result.top1_agreement = logit_metrics.top1_agreement;
      result.kl_divergence = logit_metrics.kl_divergence_mean;
      result.kl_divergence_max = logit_metrics.kl_divergence_max;
      if (result.compared_elements == 0) {
        // Rows of NaN in both models agree on nothing that could be measured.
        result.top1_agreement = std::numeric_limits<double>::quiet_NaN();
        result.kl_divergence = std::numeric_limits<double>::quiet_NaN();
        result.kl_divergence_max = std::numeric_limits<double>::quiet_NaN();
      }
    }
    return result;
  }

 private:
  void start(const eval::Tensor& reference, int64_t vocab_size) {
    result_.shape = reference.shape;
    if (!io::is_float_type(reference_dtype_) || reference.shape.empty() || reference.shape.back() < 2) return;
    const int64_t classes = reference.shape.back();
    if (named_like_logits(result_.name) || (vocab_size > 0 && classes == vocab_size)) {
      classes_ = static_cast<size_t>(classes);
      logits_.emplace(classes_);
    }
  }

  int32_t reference_dtype_;
  OutputEvaluation result_;
  kernels::DifferenceAccumulator differences_;
  std::optional<kernels::LogitAccumulator> logits_;
  size_t classes_ = 0;
};

const eval::Tensor& output_of(const Feeds& outputs, const std::string& name, const ModelUnderTest& model) {
  const auto found = outputs.find(name);
  if (found == outputs.end()) {
    throw std::logic_error(fmt::format("the evaluator returned no output '{}' for {}", name, model.label));
  }
  return found->second;
}

void check_outputs_comparable(const eval::Tensor& reference, const eval::Tensor& candidate, const std::string& name,
                              const ModelUnderTest& reference_model, const ModelUnderTest& candidate_model,
                              size_t sample) {
  for (const auto* tensor : {&reference, &candidate}) {
    if (!is_numeric_type(tensor->dtype)) {
      throw ModelError(fmt::format("output {} has element type {}, which compare cannot measure",
                                   io::quoted_name(name), io::dtype_name(tensor->dtype)));
    }
  }
  if (reference.shape != candidate.shape) {
    throw ModelError(fmt::format("output {} has shape {} in {} but {} in {} for sample {}", io::quoted_name(name),
                                 io::format_shape(reference.shape), reference_model.label,
                                 io::format_shape(candidate.shape), candidate_model.label, sample));
  }
}

}  // namespace

std::vector<OutputEvaluation> measure_outputs(const ModelUnderTest& reference, const ModelUnderTest& candidate,
                                              const std::vector<Feeds>& samples, int64_t vocab_size,
                                              const std::vector<std::map<std::string, std::string>>& sources) {
  check_same_interface(reference, candidate);
  std::vector<OutputAccumulator> accumulators;
  for (const auto& output : reference.outputs) {
    for (const auto& other : candidate.outputs) {
      if (other.name == output.name) accumulators.emplace_back(output, other);
    }
  }

  static const std::map<std::string, std::string> kNoSources;
  for (size_t sample = 0; sample < samples.size(); ++sample) {
    const auto& sample_sources = sample < sources.size() ? sources[sample] : kNoSources;
    check_feeds(samples[sample], reference, sample_sources);
    const Feeds candidate_feeds = convert_feeds(samples[sample], candidate.inputs);
    check_feeds(candidate_feeds, candidate, sample_sources);

    spdlog::debug("sample {} of {}: running {}", sample + 1, samples.size(), reference.label);
    const Feeds reference_outputs = reference.run(samples[sample]);
    spdlog::debug("sample {} of {}: running {}", sample + 1, samples.size(), candidate.label);
    const Feeds candidate_outputs = candidate.run(candidate_feeds);
    for (size_t index = 0; index < reference.outputs.size(); ++index) {
      const std::string& name = reference.outputs[index].name;
      const eval::Tensor& a = output_of(reference_outputs, name, reference);
      const eval::Tensor& b = output_of(candidate_outputs, name, candidate);
      check_outputs_comparable(a, b, name, reference, candidate, sample);
      accumulators[index].add(a, b, vocab_size, sample);
    }
  }

  std::vector<OutputEvaluation> results;
  for (const auto& accumulator : accumulators) results.push_back(accumulator.result());
  return results;
}

}  // namespace onnxquant::compare
