#include "kernels/lane_groups.hpp"

namespace onnxquant::kernels {

simd::LaneValues column_group_values(std::span<const float> matrix, int64_t n, const ColumnGroup& group,
                                     std::vector<float>& buffer) {
  const float* first = matrix.data() + group.k_begin * n + group.column;
  if (group.lanes == simd::kLanes) return {first, group.length, n, false};

  buffer.assign(static_cast<size_t>(group.length * simd::kLanes), 0.0f);
  for (int64_t j = 0; j < group.length; ++j) {
    for (int lane = 0; lane < group.lanes; ++lane) buffer[j * simd::kLanes + lane] = first[j * n + lane];
  }
  return {buffer.data(), group.length, simd::kLanes, false};
}

simd::LaneValues channel_group_values(std::span<const float> values, const AxisLayout& layout, int64_t channel,
                                      int lanes, std::vector<float>& buffer) {
  const int64_t count = layout.outer * layout.inner;
  if (layout.inner == 1 && lanes == simd::kLanes) return {values.data() + channel, count, layout.channels, false};

  buffer.assign(static_cast<size_t>(count * simd::kLanes), 0.0f);
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int lane = 0; lane < lanes; ++lane) {
      const float* row = values.data() + (o * layout.channels + channel + lane) * layout.inner;
      for (int64_t i = 0; i < layout.inner; ++i) buffer[(o * layout.inner + i) * simd::kLanes + lane] = row[i];
    }
  }
  return {buffer.data(), count, simd::kLanes, false};
}

}  // namespace onnxquant::kernels
