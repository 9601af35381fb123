// Calibration: runs sample inputs through the reference evaluator and keeps the values of chosen
// activations, for static INT8 activation ranges and for the INT4 input-channel importance.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant::passes {

struct ActivationData {
  int32_t dtype = 0;
  std::vector<float> values;  // finite values of every sample, in reading order
  uint64_t non_finite = 0;
  int64_t channels = 0;  // the last dimension, the same in every sample (0 when it differs)
  // Per channel of the last dimension: the mean of x^2 over all rows, non-finite values left out.
  std::vector<double> mean_squares;
};

struct Calibration {
  uint64_t samples = 0;
  std::map<std::string, ActivationData> activations;

  // The activation's importance per channel of its last dimension (mean of x^2), or empty when it
  // was not measured or its channel count is not `channels`.
  std::vector<float> importance(const std::string& activation, int64_t channels) const;
};

// The main-graph inputs that calibration measures: input A of MatMul and Gemm, and input X of Conv,
// where the weight input (B or W) is an initializer or a Constant node's output.
std::vector<std::string> calibration_targets(const onnx::ModelProto& model);

// Reads the samples of `options.calibration_data` (the layout of `compare --inputs DIR`), runs each
// through a copy of `model` that exposes the targets as extra outputs, and gathers their values.
// Throws UsageError or IoError for unreadable samples, and ModelError when the evaluator cannot run
// the model or an activation has no finite value at all.
Calibration calibrate(const onnx::ModelProto& model, const std::vector<std::string>& targets,
                      const QuantizeOptions& options);

}  // namespace onnxquant::passes
