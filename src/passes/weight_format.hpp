// The --format choice: which operators carry the quantized weights, and which option
// combinations each format accepts.
#pragma once

#include <string>

#include "onnxquant/options.hpp"

namespace onnxquant::passes {

// The format that `options` selects, with kDefault resolved: kQdq for INT8, kMatMulNBits for INT4.
// Float precisions keep kDefault.
WeightFormat resolve_format(const QuantizeOptions& options);

// Throws UsageError when the format does not apply to the precision or to the other options.
void validate_format(const QuantizeOptions& options);

// Whether the resolved format quantizes MatMul weights with a 2-D constant B only.
bool quantizes_matmul_only(const QuantizeOptions& options);

// A short name of the precision and format for messages, such as "INT4" or "INT8 dynamic".
std::string format_label(const QuantizeOptions& options);

}  // namespace onnxquant::passes
