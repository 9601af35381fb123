#include "cli/folder_commands.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>

#include "onnxquant/inspect.hpp"
#include "onnxquant/model_folder.hpp"

namespace onnxquant::cli {

int run_inspect_folder(const std::string& folder, bool json) {
  const std::vector<FolderModel> models = list_folder_models(folder);
  LoadOptions load;
  load.external_data = onnxquant::ExternalDataLoading::kMap;
  nlohmann::json described = nlohmann::json::array();
  for (const auto& entry : models) {
    Model model = load_model(std::filesystem::path(folder) / entry.file, load);
    if (json) {
      described.push_back({{"file", entry.file},
                           {"config_keys", entry.config_keys},
                           {"model", nlohmann::json::parse(inspect_json(model))}});
    } else {
      std::cout << fmt::format("== {} ({})\n", entry.file, fmt::join(entry.config_keys, ", ")) << inspect_text(model)
                << "\n";
    }
  }
  if (json) {
    const nlohmann::json document = {{"folder", folder}, {"models", described}};
    std::cout << document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}

int run_quantize_folder(const std::string& input, const std::string& output, const QuantizeFileOptions& options,
                        bool no_table) {
  const FolderReport report = quantize_folder(input, output, options);
  if (!no_table) std::cout << format_folder_report_table(report);
  return 0;
}

}  // namespace onnxquant::cli
