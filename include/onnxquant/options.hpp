// Options of the quantize command, shared by the command line and the library API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace onnxquant {

enum class Precision { kInt8, kInt4, kFp16, kBf16, kFp32 };

// The choice of integer scales: from the min and max of each block or channel, or a search that
// minimizes the squared reconstruction error. kAuto searches for INT4 only.
enum class ScaleSearch { kAuto, kNone, kMse };

// The operators that carry quantized weights. kDefault resolves by precision: DequantizeLinear
// (kQdq) for INT8 and com.microsoft MatMulNBits for INT4. kDynamic (INT8 only) quantizes the
// activations at run time too, with DynamicQuantizeLinear and MatMulInteger.
enum class WeightFormat { kDefault, kQdq, kMatMulNBits, kDynamic };

// Storage of the output model's tensors: inline or in an external data file.
enum class ExternalDataMode {
  kAuto,    // External when the input used external data or the model exceeds protobuf's 2 GiB limit.
  kAlways,  // Tensors of at least kExternalDataThresholdBytes go to OUTPUT.data.
  kNever,   // Everything inline; fails when the model exceeds 2 GiB.
};

// `--override PATTERN=PRECISION`: weights whose name, or the name of a node reading them, matches
// the shell-style PATTERN (fnmatch: *, ?, [...]) get PRECISION instead of the run's precision.
struct PrecisionOverride {
  std::string pattern;
  std::string precision;  // "int4", "int8", "fp16" (float16 storage), "fp32" or "skip" (both keep float)
};

// Mixed precision under -p int4: kSensitive keeps the weights whose INT4 error is largest, and the
// output projection, in INT8.
enum class MixedPolicy { kNone, kSensitive };

// The rule that turns the observed activation values into a quantization range.
enum class CalibrationMethod { kMinMax, kPercentile, kMse };

inline constexpr int64_t kDefaultBlockSize = 32;
inline constexpr double kDefaultCalibrationPercentile = 99.99;
inline constexpr double kDefaultSensitiveFraction = 0.1;
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
  // Applied in order; the last match wins.
  std::vector<PrecisionOverride> overrides;
  MixedPolicy mixed = MixedPolicy::kNone;
  // kSensitive: the share of INT4 weight elements that may move to INT8, besides the output projection.
  double sensitive_fraction = kDefaultSensitiveFraction;
  WeightFormat format = WeightFormat::kDefault;
  // FP16 and BF16: convert the main graph's float32 inputs and outputs too.
  bool convert_io = false;
  // INT8/INT4: also quantize constant Gather tables (token embeddings). INT4 writes
  // com.microsoft GatherBlockQuantized and shares the data with a tied lm_head.
  bool quantize_embeddings = false;
  // FP16 and BF16: operator types and node names that keep computing in float32.
  std::vector<std::string> keep_fp32_ops;
  std::vector<std::string> keep_fp32_nodes;
  // Threads that quantize, convert and measure one tensor; 0 uses every hardware thread. The
  // output and the report, except its wall time, are the same for any count.
  int threads = 0;
  // `--calibration-data DIR`: calibration samples in the layout of `compare --inputs DIR`. With it,
  // -p int8 also quantizes the activations that feed quantized MatMul, Gemm and Conv weights, and
  // -p int4 weights the scale search by the importance of each input channel.
  std::string calibration_data;
  CalibrationMethod calibration_method = CalibrationMethod::kMinMax;
  // kPercentile: the upper percentile kept (the lower one is 100 minus it), in (50, 100].
  double calibration_percentile = kDefaultCalibrationPercentile;
};

// The largest --threads value.
inline constexpr int kMaxThreads = 1024;

const char* to_string(Precision precision);
const char* to_string(ScaleSearch scale_search);
const char* to_string(WeightFormat format);
const char* to_string(CalibrationMethod method);
// Whether the options search scales for their precision, resolving kAuto.
bool searches_scales(const QuantizeOptions& options);

}  // namespace onnxquant
