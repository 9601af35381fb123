// Per-tensor and per-channel linear quantization with the vector primitives. Min and max are exact
// in any order. The scale search runs eight channels per pass, one per lane, or eight candidates
// per pass when there are fewer than eight channels or they are large. Quantization runs over
// fixed chunks of elements.
#include <algorithm>
#include <array>
#include <cassert>
#include <vector>

#include "kernels/error_metrics.hpp"
#include "kernels/lane_groups.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/minmax_params.hpp"
#include "kernels/parallel.hpp"
#include "kernels/scale_search_lanes.hpp"

namespace onnxquant::kernels {
namespace {

using simd::kLanes;

constexpr int64_t kElementsPerTask = 65536;
// Codes widened at a time, into a buffer on the stack.
constexpr int64_t kDecodeChunk = 2048;
// The largest channel that the lane kernels gather: kLanes channels of this size take 32 MiB.
constexpr int64_t kMaxGatheredChannel = int64_t{1} << 20;

struct Bounds {
  float min = 0.0f;
  float max = 0.0f;

  // min and max are exact, so bounds merge in any order.
  void merge(float other_min, float other_max) {
    min = std::min(min, other_min);
    max = std::max(max, other_max);
  }
};

Bounds tensor_bounds(std::span<const float> values, int threads) {
  const auto count = static_cast<int64_t>(values.size());
  std::vector<Bounds> partial(static_cast<size_t>(tasks_for(count, kElementsPerTask)));
  parallel_for(static_cast<int64_t>(partial.size()), threads, [&](int64_t task) {
    const int64_t begin = task * kElementsPerTask;
    Bounds& bounds = partial[static_cast<size_t>(task)];
    simd::primitives().range(values.data() + begin, std::min(kElementsPerTask, count - begin), bounds.min,
                             bounds.max);
  });
  Bounds total;
  for (const Bounds& bounds : partial) total.merge(bounds.min, bounds.max);
  return total;
}

// The bounds of every channel. Channels whose contiguous runs are shorter than a vector take one
// lane each; longer runs are reduced one (outer, channel) row at a time.
std::vector<Bounds> channel_bounds(std::span<const float> values, const AxisLayout& layout, int threads) {
  if (layout.channels == 1) return {tensor_bounds(values, threads)};

  std::vector<Bounds> bounds(static_cast<size_t>(layout.channels));
  if (layout.inner < kLanes && layout.outer * layout.inner <= kMaxGatheredChannel) {
    parallel_for(tasks_for(layout.channels, kLanes), threads, [&](int64_t group) {
      const int64_t channel = group * kLanes;
      const auto lanes = static_cast<int>(std::min<int64_t>(kLanes, layout.channels - channel));
      std::vector<float> buffer;
      const simd::LaneValues lane_values = channel_group_values(values, layout, channel, lanes, buffer);
      float min[kLanes];
      float max[kLanes];
      simd::primitives().lane_range(lane_values, min, max);
      for (int lane = 0; lane < lanes; ++lane) bounds[channel + lane] = {min[lane], max[lane]};
    });
    return bounds;
  }

  parallel_for(layout.channels, threads, [&](int64_t channel) {
    for (int64_t o = 0; o < layout.outer; ++o) {
      float min = 0.0f;
      float max = 0.0f;
      simd::primitives().range(values.data() + (o * layout.channels + channel) * layout.inner, layout.inner, min, max);
      bounds[channel].merge(min, max);
    }
  });
  return bounds;
}

void search_channel_lanes(std::span<const float> values, const AxisLayout& layout, bool symmetric,
                          IntegerRange range, int threads, std::vector<LinearQuantParams>& params) {
  parallel_for(tasks_for(layout.channels, kLanes), threads, [&](int64_t group) {
    const int64_t channel = group * kLanes;
    const auto lanes = static_cast<int>(std::min<int64_t>(kLanes, layout.channels - channel));
    std::vector<float> buffer;
    const simd::LaneValues lane_values = channel_group_values(values, layout, channel, lanes, buffer);
    ScaleChoice initial[kLanes] = {};
    for (int lane = 0; lane < lanes; ++lane) {
      initial[lane] = {params[channel + lane].scale, params[channel + lane].zero_point};
    }
    ScaleChoice best[kLanes];
    search_scale_lanes(lane_values, lanes, {range.min, range.max}, initial, symmetric, store_linear_scale,
                       /*allow_sign_flip=*/false, best);
    for (int lane = 0; lane < lanes; ++lane) params[channel + lane] = {best[lane].scale, best[lane].zero_point};
  });
}

void search_channel_candidates(std::span<const float> values, const AxisLayout& layout, bool symmetric,
                               IntegerRange range, int threads, std::vector<LinearQuantParams>& params) {
  std::vector<float> gathered;
  for (int64_t channel = 0; channel < layout.channels; ++channel) {
    std::span<const float> channel_values = values;
    if (layout.channels > 1) {
      gathered.clear();
      for (int64_t o = 0; o < layout.outer; ++o) {
        const float* row = values.data() + (o * layout.channels + channel) * layout.inner;
        gathered.insert(gathered.end(), row, row + layout.inner);
      }
      channel_values = gathered;
    }
    LinearQuantParams& channel_params = params[channel];
    const ScaleChoice best = search_scale(channel_values, {range.min, range.max},
                                          {channel_params.scale, channel_params.zero_point}, symmetric,
                                          store_linear_scale, /*allow_sign_flip=*/false, threads);
    channel_params = {best.scale, best.zero_point};
  }
}

// Calls run(begin, length, parameter, per_element) over [begin, end) in runs that share one
// parameter (per_element false) or take consecutive parameters from `parameter` on.
template <typename Run>
void for_each_parameter_run(const AxisLayout& layout, int64_t begin, int64_t end, Run run) {
  for (int64_t i = begin; i < end;) {
    int64_t length = 0;
    if (layout.inner == 1) {
      const int64_t channel = i % layout.channels;
      length = std::min(layout.channels - channel, end - i);
      run(i, length, channel, true);
    } else {
      const int64_t within = i % layout.inner;
      length = std::min(layout.inner - within, end - i);
      run(i, length, i / layout.inner % layout.channels, false);
    }
    i += length;
  }
}

struct SplitParams {
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
};

SplitParams split(std::span<const LinearQuantParams> params) {
  SplitParams split;
  for (const LinearQuantParams& p : params) {
    split.scales.push_back(p.scale);
    split.zero_points.push_back(p.zero_point);
  }
  return split;
}

}  // namespace

std::vector<LinearQuantParams> choose_linear_params(std::span<const float> values, const AxisLayout& layout,
                                                    bool symmetric, IntegerRange range, bool search_scales,
                                                    int threads) {
  assert(static_cast<int64_t>(values.size()) == layout.size());
  std::vector<LinearQuantParams> params;
  params.reserve(static_cast<size_t>(layout.channels));
  for (const Bounds& bounds : channel_bounds(values, layout, threads)) {
    params.push_back(linear_params(bounds.min, bounds.max, symmetric, range));
  }
  if (!search_scales) return params;

  const int64_t channel_size = layout.outer * layout.inner;
  if (layout.channels >= kLanes && channel_size <= kMaxGatheredChannel) {
    search_channel_lanes(values, layout, symmetric, range, threads, params);
  } else {
    search_channel_candidates(values, layout, symmetric, range, threads, params);
  }
  return params;
}

void quantize_linear(std::span<const float> values, const AxisLayout& layout,
                     std::span<const LinearQuantParams> params, IntegerRange range, std::span<uint8_t> output,
                     int threads) {
  assert(static_cast<int64_t>(values.size()) == layout.size());
  assert(output.size() == values.size());
  assert(static_cast<int64_t>(params.size()) == layout.channels);
  const SplitParams split_params = split(params);
  const int64_t count = layout.size();
  parallel_for(tasks_for(count, kElementsPerTask), threads, [&](int64_t task) {
    const int64_t begin = task * kElementsPerTask;
    for_each_parameter_run(layout, begin, std::min(count, begin + kElementsPerTask),
                           [&](int64_t start, int64_t length, int64_t parameter, bool per_element) {
      simd::primitives().quantize_run(values.data() + start, length, split_params.scales.data() + parameter,
                                      split_params.zero_points.data() + parameter, per_element, range.min, range.max,
                                      output.data() + start);
    });
  });
}

void dequantize_linear(std::span<const uint8_t> quantized, const AxisLayout& layout,
                       std::span<const LinearQuantParams> params, bool is_signed, std::span<float> output,
                       int threads) {
  assert(static_cast<int64_t>(quantized.size()) == layout.size());
  assert(output.size() == quantized.size());
  const SplitParams split_params = split(params);
  const int64_t count = layout.size();
  parallel_for(tasks_for(count, kElementsPerTask), threads, [&](int64_t task) {
    const int64_t task_end = std::min(count, (task + 1) * kElementsPerTask);
    int32_t codes[kDecodeChunk];
    for (int64_t begin = task * kElementsPerTask; begin < task_end; begin += kDecodeChunk) {
      const int64_t end = std::min(task_end, begin + kDecodeChunk);
      simd::primitives().widen_bytes(quantized.data() + begin, end - begin, is_signed, codes);
      auto dequantize = [&](int64_t start, int64_t length, int64_t parameter, bool per_element) {
        simd::primitives().dequantize_run(codes + (start - begin), length, split_params.scales.data() + parameter,
                                          split_params.zero_points.data() + parameter, per_element,
                                          output.data() + start);
      };
      for_each_parameter_run(layout, begin, end, dequantize);
    }
  });
}

ErrorMetrics measure_linear_error(std::span<const float> values, std::span<const uint8_t> quantized,
                                  const AxisLayout& layout, std::span<const LinearQuantParams> params, bool is_signed,
                                  int threads) {
  assert(static_cast<int64_t>(quantized.size()) == layout.size());
  assert(values.size() == quantized.size());
  const SplitParams split_params = split(params);
  const int64_t count = layout.size();
  std::vector<simd::ErrorSums> partial(static_cast<size_t>(tasks_for(count, kErrorChunk)));
  parallel_for(static_cast<int64_t>(partial.size()), threads, [&](int64_t chunk) {
    const int64_t begin = chunk * kErrorChunk;
    const int64_t end = std::min(count, begin + kErrorChunk);
    std::array<int32_t, kErrorChunk> codes;
    std::array<float, kErrorChunk> restored;
    simd::primitives().widen_bytes(quantized.data() + begin, end - begin, is_signed, codes.data());
    auto dequantize = [&](int64_t start, int64_t length, int64_t parameter, bool per_element) {
      simd::primitives().dequantize_run(codes.data() + (start - begin), length, split_params.scales.data() + parameter,
                                        split_params.zero_points.data() + parameter, per_element,
                                        restored.data() + (start - begin));
    };
    for_each_parameter_run(layout, begin, end, dequantize);
    partial[static_cast<size_t>(chunk)] = simd::primitives().error_sums(values.data() + begin, restored.data(),
                                                                       end - begin);
  });
  // In chunk order, as measure_error adds its chunk sums.
  simd::ErrorSums total;
  for (const simd::ErrorSums& sums : partial) simd::accumulate(total, sums);
  return metrics_from_sums(total, static_cast<uint64_t>(count));
}

}  // namespace onnxquant::kernels
