// Text forms of report values, shared by the terminal table and the HTML page.
#pragma once

#include <cstdint>
#include <string>

#include "onnxquant/report.hpp"

namespace onnxquant::report {

// Bytes in B, KiB, MiB or GiB (powers of 1024).
std::string format_bytes(uint64_t bytes);
// An SQNR in dB with one decimal, or "inf" for an exact reconstruction.
std::string format_db(double value);
// The quantization scheme of a tensor, such as "block 32" or "per-channel 1 asym".
std::string scheme_label_without_source(const TensorReport& entry);

}  // namespace onnxquant::report
