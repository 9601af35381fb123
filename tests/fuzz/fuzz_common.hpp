// Shared setup of the fuzz targets.
#pragma once

#include <spdlog/spdlog.h>

namespace onnxquant::fuzz {

// A model path in a folder that does not exist, so external data locations never resolve to a file.
inline constexpr const char* kModelPath = "/nonexistent-onnxquant-fuzz/model.onnx";

inline void silence_logging() { spdlog::set_level(spdlog::level::off); }

}  // namespace onnxquant::fuzz
