// Options of the quantize command, shared by the command line and the library API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace onnxquant {

enum class Precision { kInt8, kInt4, kFp16, kBf16, kFp32 };

// How integer scales are chosen: from the min and max of each block or channel, or by a search
// that minimizes the squared reconstruction error. kAuto searches for INT4 only.
enum class ScaleSearch { kAuto, kNone, kMse };

// The operators that carry quantized weights. kDefault resolves by precision: DequantizeLinear
// (kQdq) for INT8 and com.microsoft MatMulNBits for INT4. kDynamic (INT8 only) quantizes the
// activations at run time too, with DynamicQuantizeLinear and MatMulInteger.
enum class WeightFormat { kDefault, kQdq, kMatMulNBits, kDynamic };

// How the output model stores its tensors.
enum class ExternalDataMode {
  kAuto,    // External when the input used external data or the model exceeds protobuf's 2 GiB limit.
  kAlways,  // Tensors of at least kExternalDataThresholdBytes go to OUTPUT.data.
  kNever,   // Everything inline; fails when the model exceeds 2 GiB.
};

inline constexpr int64_t kDefaultBlockSize = 32;
inline constexpr int64_t kDefaultMinElements = 1024;

struct QuantizeOptions {
  Precision precision = Precision::kInt8;
  bool per_channel = false;
  bool asymmetric = false;
  int64_t block_size = kDefaultBlockSize;
  // Weights with fewer elements stay float: their share of the model is small and quantizing them
  // costs accuracy (first convolutions, small projections).
  int64_t min_elements = kDefaultMinElements;
  // Node names or weight tensor names that stay float.
  std::vector<std::string> exclude;
  // MatMulNBits accuracy_level attribute (0 leaves the choice to ONNX Runtime).
  int64_t accuracy_level = 0;
  ScaleSearch scale_search = ScaleSearch::kAuto;
  WeightFormat format = WeightFormat::kDefault;
  // FP16 and BF16: convert the main graph's float32 inputs and outputs too.
  bool convert_io = false;
  // FP16 and BF16: operator types and node names that keep computing in float32.
  std::vector<std::string> keep_fp32_ops;
  std::vector<std::string> keep_fp32_nodes;
};

const char* to_string(Precision precision);
const char* to_string(ScaleSearch scale_search);
const char* to_string(WeightFormat format);
// Whether the options search scales for their precision, resolving kAuto.
bool searches_scales(const QuantizeOptions& options);

}  // namespace onnxquant
