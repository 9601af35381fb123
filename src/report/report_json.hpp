// The JSON report as a document, for renderers that show the same values.
#pragma once

#include <nlohmann/json.hpp>

#include "onnxquant/report.hpp"

namespace onnxquant::report {

// The object that report_to_json writes, schema version kReportSchemaVersion.
nlohmann::json report_document(const Report& report);

}  // namespace onnxquant::report
