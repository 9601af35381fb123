// The `evaluation` section of the JSON reports (docs/report-schema.md).
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>

#include "onnxquant/evaluation.hpp"

namespace onnxquant {

nlohmann::json evaluation_json(const EvaluationReport& report);

// JSON has no infinity or NaN: such values are written as null.
inline nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace onnxquant
