// The sections of the HTML report, one function each, which report_to_html joins into a page.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "onnxquant/report.hpp"

namespace onnxquant::report {

// Each function returns one <section> element. `document` is the JSON report of the same run
// (report_document), whose summary values the summary section shows and repeats in data-value
// attributes.
std::string summary_section(const Report& report, const nlohmann::json& document);
std::string error_chart_section(const Report& report);
std::string size_chart_section(const Report& report);
std::string tensor_table_section(const Report& report);
std::string skipped_table_section(const Report& report);
// Empty when the run had no evaluation (--eval-inputs, --eval-samples) or no --calibration-data.
std::string evaluation_section(const Report& report);
std::string calibration_section(const Report& report);

// The SQNR in dB below which a tensor of this run counts as low, or NaN for runs that do not warn
// about SQNR (FP16, BF16 and FP32).
double low_sqnr_threshold_db(const Report& report);

}  // namespace onnxquant::report
