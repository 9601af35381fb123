// Weight quantization of a loaded model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include <onnx/onnx_pb.h>

#include "onnxquant/evaluation.hpp"
#include "onnxquant/model.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant {

// Progress of the weight passes. Bytes are the stored sizes of the weights before the run.
struct QuantizeProgress {
  uint64_t tensors_done = 0;
  uint64_t tensors_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};

// Called on the thread that runs quantize_model, with counts that never decrease and that end at
// the totals. INT8 and INT4 runs call it once before the first weight and then after each weight
// they selected for quantization, whether its pass quantized it or kept it float. FP16, BF16 and FP32 runs convert every weight in one pass and call
// it once, at the end. An exception it throws ends the run.
using ProgressCallback = std::function<void(const QuantizeProgress&)>;

// Rewrites the model in place and fills the tensors, skipped and notes parts of the report.
// Throws UsageError for invalid options and ModelError for models it cannot convert. The model's
// data must be inline (a model loaded with ExternalDataLoading::kRead).
void quantize_model(onnx::ModelProto& model, const QuantizeOptions& options, Report& report,
                    const ProgressCallback& progress = {});
// The same for a model loaded with any ExternalDataLoading. Weights that stay in external files are
// read one at a time. When model.store writes the output's external data, new and converted
// tensors move there as they are made; quantize_file opens that file for outputs with external data.
void quantize_model(Model& model, const QuantizeOptions& options, Report& report,
                    const ProgressCallback& progress = {});

struct QuantizeFileOptions {
  QuantizeOptions quantize;
  ExternalDataMode external_data = ExternalDataMode::kAuto;
  // When not empty, the report is written here after the model: an HTML page when the path ends
  // in ".html" (any letter case), JSON otherwise.
  std::filesystem::path report_path;
  // When set, receives the progress of the weight passes (see ProgressCallback).
  ProgressCallback progress;
  // When set, the input model and the quantized model run through the reference evaluator after
  // quantization, and the report gets an evaluation section. A failed gate does not stop the run.
  std::optional<EvaluationOptions> evaluation;
};

// Loads `input`, quantizes it, checks the result with the ONNX checker where the linked ONNX
// library supports the opset, and saves it to `output`. Before any work it rejects (UsageError) an
// output or report path that is empty, a folder, in a missing folder, the input model, one of its
// external data files, or the other output. The input's external data stays in its files
// (ExternalDataLoading::kMap), and with an external output each finished tensor is written at once,
// so memory does not grow with the size of the model. Returns the complete report.
Report quantize_file(const std::filesystem::path& input, const std::filesystem::path& output,
                     const QuantizeFileOptions& options);

// Throws UsageError unless the options are valid.
void validate_options(const QuantizeOptions& options);

}  // namespace onnxquant
