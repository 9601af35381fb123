#include "kernels/minmax_params.hpp"

#include "kernels/axis_block_quantization.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace onnxquant::kernels {
namespace {

int32_t max_code(int64_t bits) { return (1 << bits) - 1; }

float store_float32(float scale) { return store_scale(scale, ScaleType::kFloat32); }
float store_float16(float scale) { return store_scale(scale, ScaleType::kFloat16); }

}  // namespace

void finite_range(std::span<const float> block, float& min, float& max) {
  min = 0.0f;
  max = 0.0f;
  for (float x : block) {
    if (!std::isfinite(x)) continue;
    min = std::min(min, x);
    max = std::max(max, x);
  }
}

StoreScale store_for(ScaleType scale_type) {
  return scale_type == ScaleType::kFloat16 ? store_float16 : store_float32;
}

float store_linear_scale(float scale) { return std::max(scale, FLT_MIN); }

ScaleChoice nbits_symmetric_params(float largest, int64_t bits, ScaleType scale_type) {
  const int32_t zero_point = 1 << (bits - 1);
  if (largest == 0.0f) return {store_scale(1.0f, scale_type), zero_point};
  return {store_scale(largest / -static_cast<float>(zero_point), scale_type), zero_point};
}

ScaleChoice nbits_asymmetric_params(float min, float max, int64_t bits, ScaleType scale_type) {
  const int32_t code_max = max_code(bits);
  const double span = static_cast<double>(max) - static_cast<double>(min);
  if (span == 0.0) return {store_scale(1.0f, scale_type), 0};
  const float scale = store_scale(static_cast<float>(span / code_max), scale_type);
  const double zero_point = std::nearbyint(-static_cast<double>(min) / scale);
  return {scale, static_cast<int32_t>(std::clamp(zero_point, 0.0, static_cast<double>(code_max)))};
}

ScaleChoice axis_block_params(float min, float max, bool symmetric, ScaleType scale_type) {
  if (symmetric) {
    // Positive scale that keeps min >= -8 * scale and max <= 7 * scale.
    const double scale =
        std::max(-static_cast<double>(min) / -kInt4CodeRange.min, static_cast<double>(max) / kInt4CodeRange.max);
    if (scale == 0.0) return {store_scale(1.0f, scale_type), 0};
    return {store_scale(static_cast<float>(scale), scale_type), 0};
  }

  const double span = static_cast<double>(max) - static_cast<double>(min);
  if (span == 0.0) return {store_scale(1.0f, scale_type), 0};
  const float scale = store_scale(static_cast<float>(span / kUint4CodeRange.max), scale_type);
  const double zero_point = std::nearbyint(-static_cast<double>(min) / scale);
  return {scale, static_cast<int32_t>(std::clamp(zero_point, 0.0, static_cast<double>(kUint4CodeRange.max)))};
}

LinearQuantParams linear_params(float min, float max, bool symmetric, IntegerRange range) {
  LinearQuantParams params{1.0f, 0};
  if (symmetric) {
    const double max_abs = std::max(std::fabs(static_cast<double>(min)), std::fabs(static_cast<double>(max)));
    if (max_abs == 0.0) return params;
    params.scale = static_cast<float>(max_abs / range.max);
  } else {
    // Double precision keeps (max - min) finite for values near the float limit.
    const double span = static_cast<double>(max) - static_cast<double>(min);
    if (span == 0.0) {
      params.zero_point = std::clamp(0, range.min, range.max);
      return params;
    }
    params.scale = static_cast<float>(span / (range.max - range.min));
  }
  params.scale = std::max(params.scale, FLT_MIN);

  if (!symmetric) {
    const double zero_point = range.min - std::nearbyint(static_cast<double>(min) / params.scale);
    params.zero_point = static_cast<int32_t>(std::clamp(zero_point, static_cast<double>(range.min),
                                                        static_cast<double>(range.max)));
  }
  return params;
}

}  // namespace onnxquant::kernels
