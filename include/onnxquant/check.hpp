// Consistency checks of a model file, behind `onnxquant check`.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace onnxquant {

// Loads the model and returns every finding, or an empty list when the model passes. Loading
// throws ModelError or IoError on the first problem that makes the model unreadable (see
// load_model); the checks after loading collect all findings:
// - a value name that a subgraph defines again although an enclosing graph defines it;
// - nodes out of topological order, one finding per graph;
// - DequantizeLinear with per-axis or blocked scales but no explicit axis, an axis dimension that
//   does not match the scales, or scales that are not finite and positive;
// - MatMulNBits whose K, N, bits and block_size disagree with the shapes of its inputs, or whose
//   scales are not finite and nonzero;
// - a node whose domain the model does not import;
// - where the linked ONNX library supports the opset, an ONNX checker error or a value_info type that
//   shape inference contradicts.
// External data outside the model folder fails the load, as it does for quantize.
std::vector<std::string> check_model_file(const std::filesystem::path& path);

}  // namespace onnxquant
