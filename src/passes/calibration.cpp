#include "passes/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <set>
#include <spdlog/spdlog.h>

#include "compare/input_files.hpp"
#include "compare/tensor_values.hpp"
#include "eval/session.hpp"
#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::passes {
namespace {

// The input that carries the weight: B of MatMul and Gemm, W of Conv.
constexpr int kWeightInput = 1;

bool reads_activation_and_weight(const onnx::NodeProto& node) {
  const std::string& op = node.op_type();
  return node.domain().empty() && (op == "MatMul" || op == "Gemm" || op == "Conv") && node.input_size() > kWeightInput;
}

// Adds one sample's tensor to the activation's statistics, in double precision.
void accumulate(const eval::Tensor& tensor, ActivationData& data) {
  const std::vector<double> values = compare::to_doubles(tensor);
  const int64_t channels = tensor.shape.empty() ? 1 : tensor.shape.back();
  if (data.dtype == 0) {
    data.dtype = tensor.dtype;
    data.channels = channels;
    data.mean_squares.assign(static_cast<size_t>(std::max<int64_t>(channels, 0)), 0.0);
  } else if (data.channels != channels) {
    data.channels = 0;
    data.mean_squares.clear();
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) {
      ++data.non_finite;
      continue;
    }
    data.values.push_back(static_cast<float>(x));
    if (data.channels > 0) data.mean_squares[i % static_cast<size_t>(data.channels)] += x * x;
  }
}

// Turns the per-channel sums of squares into means over the rows seen.
void finish(const std::string& name, ActivationData& data) {
  if (data.values.empty()) {
    throw ModelError(fmt::format("calibration activation {} has no finite value in any sample ({} values are NaN or "
                                 "infinite); its range cannot be measured",
                                 io::quoted_name(name), data.non_finite));
  }
  if (data.channels <= 0) return;
  const double rows = static_cast<double>(data.values.size() + data.non_finite) / static_cast<double>(data.channels);
  for (double& sum : data.mean_squares) sum /= rows;
}

}  // namespace

std::vector<float> Calibration::importance(const std::string& activation, int64_t channels) const {
  const auto found = activations.find(activation);
  if (found == activations.end() || found->second.channels != channels) return {};
  return {found->second.mean_squares.begin(), found->second.mean_squares.end()};
}

std::vector<std::string> calibration_targets(const onnx::ModelProto& model) {
  // Initializers and Constant node outputs.
  std::set<std::string> initializers;
  for (const auto& tensor : model.graph().initializer()) initializers.insert(tensor.name());
  for (const auto& node : model.graph().node()) {
    if (node.op_type() == "Constant" && node.domain().empty()) initializers.insert(node.output().begin(), node.output().end());
  }
  std::vector<std::string> targets;
  std::set<std::string> seen;
  for (const auto& node : model.graph().node()) {
    if (!reads_activation_and_weight(node) || initializers.count(node.input(kWeightInput)) == 0) continue;
    const std::string& activation = node.input(0);
    if (activation.empty() || initializers.count(activation) > 0) continue;
    if (seen.insert(activation).second) targets.push_back(activation);
  }
  return targets;
}

Calibration calibrate(const onnx::ModelProto& model, const std::vector<std::string>& targets,
                      const QuantizeOptions& options) {
  // NOTE: the copy keeps a second set of weights in memory while calibration runs.
  onnx::ModelProto copy = model;
  std::set<std::string> outputs;
  for (const auto& output : copy.graph().output()) outputs.insert(output.name());
  for (const auto& name : targets) {
    if (outputs.count(name) == 0) copy.mutable_graph()->add_output()->set_name(name);
  }
  eval::Session session(copy);
  const compare::InputSamples samples = compare::read_input_folder(options.calibration_data, session.inputs(), "--calibration-data");

  Calibration calibration;
  calibration.samples = samples.samples.size();
  for (size_t i = 0; i < samples.samples.size(); ++i) {
    spdlog::info("calibration sample {}/{}", i + 1, samples.samples.size());
    const auto results = session.run(samples.samples[i]);
    for (const auto& name : targets) accumulate(results.at(name), calibration.activations[name]);
  }
  for (auto& [name, data] : calibration.activations) finish(name, data);
  return calibration;
}

}  // namespace onnxquant::passes
