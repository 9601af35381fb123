#pragma once

namespace onnxquant {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace onnxquant
