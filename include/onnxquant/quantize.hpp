// Weight quantization of a loaded model.
#pragma once

#include <filesystem>

#include <onnx/onnx_pb.h>

#include "onnxquant/model.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant {

// Rewrites the model in place and fills the tensors, skipped and notes parts of the report.
// Throws UsageError for invalid options and NotImplementedError for precisions not built yet.
void quantize_model(onnx::ModelProto& model, const QuantizeOptions& options, Report& report);

struct QuantizeFileOptions {
  QuantizeOptions quantize;
  ExternalDataMode external_data = ExternalDataMode::kAuto;
};

// Loads `input`, quantizes it, checks the result with the ONNX checker where the linked ONNX
// library supports the opset, and saves it to `output`. Rejects an output that is the input model or
// one of its external data files. Returns the complete report.
Report quantize_file(const std::filesystem::path& input, const std::filesystem::path& output,
                     const QuantizeFileOptions& options);

// Throws UsageError unless the options are valid.
void validate_options(const QuantizeOptions& options);

}  // namespace onnxquant
