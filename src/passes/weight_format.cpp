#include "passes/weight_format.hpp"

#include <fmt/format.h>

#include "onnxquant/errors.hpp"

namespace onnxquant {

const char* to_string(WeightFormat format) {
  switch (format) {
    case WeightFormat::kDefault: return "default";
    case WeightFormat::kQdq: return "qdq";
    case WeightFormat::kMatMulNBits: return "matmulnbits";
    case WeightFormat::kDynamic: return "dynamic";
  }
  return "unknown";
}

}  // namespace onnxquant

namespace onnxquant::passes {

WeightFormat resolve_format(const QuantizeOptions& options) {
  if (options.format != WeightFormat::kDefault) return options.format;
  if (options.precision == Precision::kInt8) return WeightFormat::kQdq;
  if (options.precision == Precision::kInt4) return WeightFormat::kMatMulNBits;
  return WeightFormat::kDefault;
}

void validate_format(const QuantizeOptions& options) {
  const WeightFormat format = options.format;
  if (format == WeightFormat::kDefault) return;
  const bool is_int8 = options.precision == Precision::kInt8;
  const bool is_int4 = options.precision == Precision::kInt4;
  if (!is_int8 && !is_int4) {
    throw UsageError(fmt::format("--format applies to -p int8 and -p int4, not to -p {}", to_string(options.precision)));
  }
  if (is_int4 && format == WeightFormat::kDynamic) {
    throw UsageError("--format dynamic applies to -p int8 only; -p int4 takes --format qdq or matmulnbits");
  }
  if (is_int8 && format == WeightFormat::kMatMulNBits && options.per_channel) {
    throw UsageError("--per-channel does not apply to --format matmulnbits, which always has one scale per block "
                     "(--block-size)");
  }
  if (format != WeightFormat::kMatMulNBits && options.accuracy_level != 0) {
    throw UsageError(fmt::format("--accuracy-level sets an attribute of MatMulNBits and does not apply to --format {}",
                                 to_string(format)));
  }
}

bool quantizes_matmul_only(const QuantizeOptions& options) {
  const WeightFormat format = resolve_format(options);
  return options.precision == Precision::kInt4 || format == WeightFormat::kMatMulNBits ||
         format == WeightFormat::kDynamic;
}

std::string format_label(const QuantizeOptions& options) {
  const WeightFormat format = resolve_format(options);
  if (options.precision == Precision::kInt4) return format == WeightFormat::kQdq ? "INT4 QDQ" : "INT4";
  if (format == WeightFormat::kMatMulNBits) return "INT8 MatMulNBits";
  if (format == WeightFormat::kDynamic) return "INT8 dynamic";
  return "INT8";
}

}  // namespace onnxquant::passes
