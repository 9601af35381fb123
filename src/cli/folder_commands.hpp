// The `inspect` and `quantize` commands for ONNX Runtime GenAI model folders.
#pragma once

#include <string>

#include "onnxquant/quantize.hpp"

namespace onnxquant::cli {

// Prints the description of every model that FOLDER/genai_config.json names.
int run_inspect_folder(const std::string& folder, bool json);

// Quantizes the folder and prints one report table per model unless `no_table`.
int run_quantize_folder(const std::string& input, const std::string& output, const QuantizeFileOptions& options,
                        bool no_table);

}  // namespace onnxquant::cli
