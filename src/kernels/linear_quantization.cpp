#include "kernels/linear_quantization.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "kernels/minmax_params.hpp"
#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {
namespace {

struct ValueRange {
  float min = 0.0f;
  float max = 0.0f;
};

// Range of the finite values of one channel, widened to include 0.
ValueRange channel_range(std::span<const float> values, const AxisLayout& layout, int64_t channel) {
  ValueRange range;
  for (int64_t o = 0; o < layout.outer; ++o) {
    const float* row = values.data() + (o * layout.channels + channel) * layout.inner;
    for (int64_t i = 0; i < layout.inner; ++i) {
      const float x = row[i];
      if (!std::isfinite(x)) continue;
      range.min = std::min(range.min, x);
      range.max = std::max(range.max, x);
    }
  }
  return range;
}

std::vector<float> channel_values(std::span<const float> values, const AxisLayout& layout, int64_t channel) {
  std::vector<float> gathered;
  gathered.reserve(static_cast<size_t>(layout.outer * layout.inner));
  for (int64_t o = 0; o < layout.outer; ++o) {
    const float* row = values.data() + (o * layout.channels + channel) * layout.inner;
    gathered.insert(gathered.end(), row, row + layout.inner);
  }
  return gathered;
}

}  // namespace

int32_t quantize_value(float value, const LinearQuantParams& params, IntegerRange range) {
  if (std::isnan(value)) return std::clamp(params.zero_point, range.min, range.max);
  // Division, not multiplication by an inverse, as QuantizeLinear specifies; nearbyint rounds
  // half to even in the default floating-point environment.
  const float rounded = std::nearbyint(value / params.scale);
  const float shifted = rounded + static_cast<float>(params.zero_point);
  const float clamped = std::clamp(shifted, static_cast<float>(range.min), static_cast<float>(range.max));
  return static_cast<int32_t>(clamped);
}

namespace reference {

std::vector<LinearQuantParams> choose_linear_params(std::span<const float> values, const AxisLayout& layout,
                                                    bool symmetric, IntegerRange range, bool search_scales) {
  assert(static_cast<int64_t>(values.size()) == layout.size());
  std::vector<LinearQuantParams> params;
  params.reserve(static_cast<size_t>(layout.channels));
  for (int64_t c = 0; c < layout.channels; ++c) {
    const ValueRange bounds = channel_range(values, layout, c);
    LinearQuantParams channel = linear_params(bounds.min, bounds.max, symmetric, range);
    if (search_scales) {
      const ScaleChoice choice =
          reference::search_scale(channel_values(values, layout, c), {range.min, range.max},
                                  {channel.scale, channel.zero_point}, symmetric, store_linear_scale);
      channel = {choice.scale, choice.zero_point};
    }
    params.push_back(channel);
  }
  return params;
}

void quantize_linear(std::span<const float> values, const AxisLayout& layout,
                     std::span<const LinearQuantParams> params, IntegerRange range, std::span<uint8_t> output) {
  assert(static_cast<int64_t>(values.size()) == layout.size());
  assert(output.size() == values.size());
  assert(static_cast<int64_t>(params.size()) == layout.channels);
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      const int64_t offset = (o * layout.channels + c) * layout.inner;
      for (int64_t i = 0; i < layout.inner; ++i) {
        const int32_t q = quantize_value(values[offset + i], params[c], range);
        output[offset + i] = static_cast<uint8_t>(q & 0xff);
      }
    }
  }
}

void dequantize_linear(std::span<const uint8_t> quantized, const AxisLayout& layout,
                       std::span<const LinearQuantParams> params, bool is_signed, std::span<float> output) {
  assert(static_cast<int64_t>(quantized.size()) == layout.size());
  assert(output.size() == quantized.size());
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      const int64_t offset = (o * layout.channels + c) * layout.inner;
      for (int64_t i = 0; i < layout.inner; ++i) {
        const uint8_t byte = quantized[offset + i];
        const int32_t q = is_signed ? static_cast<int32_t>(static_cast<int8_t>(byte)) : static_cast<int32_t>(byte);
        output[offset + i] = static_cast<float>(q - params[c].zero_point) * params[c].scale;
      }
    }
  }
}

}  // namespace reference
}  // namespace onnxquant::kernels
