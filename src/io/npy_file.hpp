// NumPy .npy files (format versions 1.0, 2.0 and 3.0) as dense tensors.
#pragma once

#include <cstddef>
#include <string_view>

#include "eval/tensor.hpp"

namespace onnxquant::io {

// A header longer than this is rejected before it is parsed; NumPy writes headers of a few hundred
// bytes.
inline constexpr size_t kMaxNpyHeaderBytes = 65536;

// Parses the bytes of a .npy file. `source` names the file in messages. Supported element types
// are little-endian (or single-byte) bool, int8 to int64, uint8 to uint64, float16, float32 and
// float64, in C order. Throws UsageError for anything else: a bad magic string or header, Fortran
// order, big-endian or structured types, data shorter or longer than the shape needs, or a bool byte
// other than 0 and 1.
eval::Tensor parse_npy(std::string_view bytes, std::string_view source);

}  // namespace onnxquant::io
