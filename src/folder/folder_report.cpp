// The folder report: each model's report in the schema of report_to_json, plus the folder's files.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onnxquant/model_folder.hpp"
#include "onnxquant/version.hpp"

namespace onnxquant {

inline constexpr int kFolderReportSchemaVersion = 1;

std::string folder_report_to_json(const FolderReport& report) {
  using nlohmann::json;
  json models = json::array();
  for (const auto& entry : report.models) {
    models.push_back({
        {"file", entry.model.file},
        {"config_keys", entry.model.config_keys},
        {"shared_initializers", entry.model.shared_initializers},
        {"report", json::parse(report_to_json(entry.report))},
    });
  }
  const json document = {
      {"schema", "onnxquant.folder-report"},
      {"schema_version", kFolderReportSchemaVersion},
      {"tool", {{"name", "onnxquant"}, {"version", kVersion}}},
      {"input", report.input_folder},
      {"output", report.output_folder},
      {"folder_bytes_before", report.folder_bytes_before},
      {"folder_bytes_after", report.folder_bytes_after},
      {"wall_time_seconds", report.wall_time_seconds},
      {"config_changes", report.config_changes},
      {"copied_files", report.copied_files},
      {"models", models},
      {"notes", report.notes},
  };
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string format_folder_report_table(const FolderReport& report) {
  std::string out;
  for (const auto& entry : report.models) {
    out += fmt::format("== {} ({})\n", entry.model.file, fmt::join(entry.model.config_keys, ", "));
    out += format_report_table(entry.report);
    out += "\n";
  }
  const double ratio = report.folder_bytes_after > 0 ? static_cast<double>(report.folder_bytes_before) /
                                                           static_cast<double>(report.folder_bytes_after)
                                                     : 0.0;
  out += fmt::format("folder: {} model(s) quantized, {} other file(s) copied, {} {}; {} -> {} bytes ({:.2f}x)\n",
                     report.models.size(), report.copied_files.size(), kGenaiConfigName,
                     report.config_changes.empty() ? "copied unchanged"
                                                   : fmt::format("updated at {}", fmt::join(report.config_changes, ", ")),
                     report.folder_bytes_before, report.folder_bytes_after, ratio);
  return out;
}

}  // namespace onnxquant
