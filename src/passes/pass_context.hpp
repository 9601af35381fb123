// The state shared by the weight quantization passes: options, pending graph edits, names, report.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graph/names.hpp"
#include "kernels/error_metrics.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"
#include "passes/graph_edits.hpp"

namespace onnxquant::passes {

struct PassContext {
  const QuantizeOptions& options;
  GraphEdits& edits;
  graph::NameAllocator& names;
  Report& report;
};

onnx::NodeProto make_node(const std::string& op_type, const std::string& domain, const std::string& name,
                          const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);
void set_int_attribute(onnx::NodeProto& node, const std::string& name, int64_t value);

// Fills the error fields of a report entry, and the scale range from the stored scales.
void set_quantization_error(TensorReport& entry, const kernels::ErrorMetrics& error, const std::vector<float>& scales);

}  // namespace onnxquant::passes
