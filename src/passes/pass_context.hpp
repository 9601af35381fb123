// The state shared by the weight quantization passes: options, pending graph edits, names, report.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graph/names.hpp"
#include "io/tensor_store.hpp"
#include "graph/weights.hpp"
#include "kernels/error_metrics.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"
#include "passes/graph_edits.hpp"

namespace onnxquant::passes {

struct Calibration;

struct PassContext {
  const QuantizeOptions& options;
  GraphEdits& edits;
  graph::NameAllocator& names;
  Report& report;
  // Reads the weights that stay in the input's external data files.
  const io::TensorStore& store;
  // Set with --calibration-data: the measured activations.
  const Calibration* calibration = nullptr;
};

// Returns the calibration importance (mean of x^2 per input channel) of the weight's rows, summed
// over the MatMuls that read it as B. The result is empty unless every such MatMul was calibrated.
std::vector<float> input_importance(const graph::Weight& weight, int64_t k, const PassContext& context);

onnx::NodeProto make_node(const std::string& op_type, const std::string& domain, const std::string& name,
                          const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);
void set_int_attribute(onnx::NodeProto& node, const std::string& name, int64_t value);

// The thread count of the kernels for options.threads (0: every hardware thread).
int kernel_threads(const QuantizeOptions& options);

// Fills the error fields of a report entry, and the scale range from the stored scales.
void set_quantization_error(TensorReport& entry, const kernels::ErrorMetrics& error, const std::vector<float>& scales);

}  // namespace onnxquant::passes
