#include "report/report_format.hpp"

#include <cmath>
#include <fmt/format.h>

namespace onnxquant::report {

std::string format_bytes(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1 << 30));
  if (bytes >= (uint64_t{1} << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (uint64_t{1} << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / (1 << 10));
  return fmt::format("{} B", bytes);
}

std::string format_db(double value) { return std::isfinite(value) ? fmt::format("{:.1f}", value) : "inf"; }

std::string scheme_label_without_source(const TensorReport& entry) {
  if (entry.scheme == "block") return fmt::format("block {}{}", entry.block_size, entry.symmetric ? "" : " asym");
  if (entry.scheme == "per-channel") return fmt::format("per-channel {}{}", entry.axis, entry.symmetric ? "" : " asym");
  if (entry.scheme == "cast") return entry.dtype_after == "float16" ? "float16" : entry.dtype_after;
  if (entry.scheme == "restore") return "restore";
  if (entry.scheme == "cast") return "cast";
  return entry.symmetric ? "per-tensor" : "per-tensor asym";
}

}  // namespace onnxquant::report
