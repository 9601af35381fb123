// Per-tensor and per-axis linear (affine) quantization to 8-bit integers, as QuantizeLinear and
// DequantizeLinear define it: q = saturate(round_half_to_even(x / scale) + zero_point) and
// x' = (q - zero_point) * scale.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/error_metrics.hpp"

namespace onnxquant::kernels {

struct IntegerRange {
  int32_t min;
  int32_t max;
};

// Symmetric int8 uses [-127, 127] so that zero is the midpoint; asymmetric uint8 uses [0, 255].
inline constexpr IntegerRange kInt8SymmetricRange{-127, 127};
inline constexpr IntegerRange kUint8Range{0, 255};

// A tensor viewed as [outer, channels, inner]: element (o, c, i) is at (o * channels + c) * inner + i.
// Per-tensor quantization is the layout {1, 1, size}.
struct AxisLayout {
  int64_t outer;
  int64_t channels;
  int64_t inner;

  int64_t size() const { return outer * channels * inner; }
};

struct LinearQuantParams {
  float scale;
  int32_t zero_point;
};

// Chooses one scale and zero point per channel. The range always includes 0, non-finite values are
// ignored, an all-zero channel gets scale 1 and a scale never drops below the smallest normal float.
// With `search_scales`, each channel's parameters come from search_scale in scale_search.hpp,
// starting from that min/max choice.
std::vector<LinearQuantParams> choose_linear_params(std::span<const float> values, const AxisLayout& layout,
                                                    bool symmetric, IntegerRange range, bool search_scales = false,
                                                    int threads = 1);

// Quantizes into one byte per element (int8 as two's complement). NaN becomes the zero point,
// +Inf and -Inf saturate to range.max and range.min.
void quantize_linear(std::span<const float> values, const AxisLayout& layout,
                     std::span<const LinearQuantParams> params, IntegerRange range, std::span<uint8_t> output,
                     int threads = 1);

void dequantize_linear(std::span<const uint8_t> quantized, const AxisLayout& layout,
                       std::span<const LinearQuantParams> params, bool is_signed, std::span<float> output,
                       int threads = 1);

// measure_error(values, dequantized) for the output of dequantize_linear, bit for bit, without the
// dequantized copy: each chunk of kErrorChunk elements is dequantized into a small buffer.
ErrorMetrics measure_linear_error(std::span<const float> values, std::span<const uint8_t> quantized,
                                  const AxisLayout& layout, std::span<const LinearQuantParams> params, bool is_signed,
                                  int threads = 1);

int32_t quantize_value(float value, const LinearQuantParams& params, IntegerRange range);

// The scalar implementations that define the results of the functions above. Those use the vector
// primitives and `threads` threads, and return the same bits.
namespace reference {

std::vector<LinearQuantParams> choose_linear_params(std::span<const float> values, const AxisLayout& layout,
                                                    bool symmetric, IntegerRange range, bool search_scales = false);
void quantize_linear(std::span<const float> values, const AxisLayout& layout,
                     std::span<const LinearQuantParams> params, IntegerRange range, std::span<uint8_t> output);
void dequantize_linear(std::span<const uint8_t> quantized, const AxisLayout& layout,
                       std::span<const LinearQuantParams> params, bool is_signed, std::span<float> output);

}  // namespace reference
}  // namespace onnxquant::kernels
