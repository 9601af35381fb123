// Opset imports and conversion between ai.onnx opset versions.
#pragma once

#include <cstdint>
#include <string>

#include <onnx/onnx_pb.h>

namespace onnxquant::graph {

inline constexpr const char* kMicrosoftDomain = "com.microsoft";

// The imported version of a domain; "" and "ai.onnx" name the same default domain. Returns 0 when
// the model does not import the domain.
int64_t opset_version(const onnx::ModelProto& model, const std::string& domain);

// Adds an import of `domain` at `version` unless the model already imports it.
void add_opset_import(onnx::ModelProto& model, const std::string& domain, int64_t version);

// Converts the model to ai.onnx opset `target` with the ONNX version converter. Returns false and
// sets `error` when the converter cannot do it; the model is unchanged then.
bool convert_opset(onnx::ModelProto& model, int64_t target, std::string& error);

// The highest ai.onnx opset and IR version that the linked ONNX library's checker supports.
int64_t checker_max_opset();
int64_t checker_max_ir_version();

}  // namespace onnxquant::graph
