// Weight quantization of a loaded model.
#pragma once

#include <filesystem>

#include <onnx/onnx_pb.h>

#include "onnxquant/model.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant {

// Rewrites the model in place and fills the tensors, skipped and notes parts of the report.
// Throws UsageError for invalid options and ModelError for models it cannot convert.
void quantize_model(onnx::ModelProto& model, const QuantizeOptions& options, Report& report);

struct QuantizeFileOptions {
  QuantizeOptions quantize;
  ExternalDataMode external_data = ExternalDataMode::kAuto;
  // When not empty, the JSON report is written here after the model.
  std::filesystem::path report_path;
};

// Loads `input`, quantizes it, checks the result with the ONNX checker where the linked ONNX
// library supports the opset, and saves it to `output`. Before any work it rejects (UsageError) an
// output or report path that is empty, a folder, in a missing folder, the input model, one of its
// external data files, or the other output. Returns the complete report.
Report quantize_file(const std::filesystem::path& input, const std::filesystem::path& output,
                     const QuantizeFileOptions& options);

// Throws UsageError unless the options are valid.
void validate_options(const QuantizeOptions& options);

}  // namespace onnxquant
