// Removal of temporary files that an interrupted run left next to an output.
#pragma once

#include <filesystem>
#include <string>

namespace onnxquant::io {

// The prefix of the temporary files written for `final_name`: ".NAME.tmp-".
std::string temporary_prefix(const std::string& final_name);

// Removes the files `folder/.FINAL_NAME.tmp-XXXXXX` that no running process holds locked. A run
// holds an exclusive flock on each of its temporary files until it renames or removes it. The
// kernel releases the lock when the process ends, even by SIGKILL, so an unlocked file is left over
// from a run that ended. Files of other output names, links and folders are left alone. Failures
// are logged at debug level and otherwise ignored.
void remove_stale_temporaries(const std::filesystem::path& folder, const std::string& final_name);

}  // namespace onnxquant::io
