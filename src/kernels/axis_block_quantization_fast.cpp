// DequantizeLinear 4-bit block quantization on eight adjacent columns at once; see
// block_quantization_fast.cpp for the lane layout.
#include <algorithm>
#include <cassert>
#include <cstring>

#include "kernels/axis_block_quantization.hpp"
#include "kernels/lane_groups.hpp"
#include "kernels/minmax_params.hpp"
#include "kernels/scale_search_lanes.hpp"

namespace onnxquant::kernels {
namespace {

using simd::kLanes;

// Elements per task of the element-wise kernels.
constexpr int64_t kElementsPerTask = 65536;

void choose_group_params(const simd::LaneValues& values, int lanes, bool symmetric, ScaleType scale_type,
                         bool search_scales, ScaleChoice* choices) {
  float min[kLanes];
  float max[kLanes];
  simd::primitives().lane_range(values, min, max);
  for (int lane = 0; lane < kLanes; ++lane) {
    choices[lane] = axis_block_params(min[lane], max[lane], symmetric, scale_type);
  }
  if (!search_scales) return;

  ScaleChoice searched[kLanes];
  search_scale_lanes(values, lanes, symmetric ? kInt4CodeRange : kUint4CodeRange, choices, symmetric,
                     store_for(scale_type), /*allow_sign_flip=*/false, searched);
  // DequantizeLinear scales stay positive; a fit that is not keeps the min/max choice.
  for (int lane = 0; lane < lanes; ++lane) {
    if (searched[lane].scale > 0.0f) choices[lane] = searched[lane];
  }
}

}  // namespace

AxisBlockQuantized quantize_axis_blocks_4bit(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                             bool symmetric, ScaleType scale_type, bool search_scales, int threads) {
  assert(static_cast<int64_t>(weight.size()) == k * n);
  assert(block_size >= 1);

  AxisBlockQuantized result;
  result.k = k;
  result.n = n;
  result.block_size = block_size;
  result.blocks = blocks_per_column(k, block_size);
  result.is_signed = symmetric;
  result.codes.resize(static_cast<size_t>(k * n));
  result.scales.resize(static_cast<size_t>(result.blocks * n));
  if (!symmetric) result.zero_points.resize(static_cast<size_t>(result.blocks * n));
  const CodeRange range = symmetric ? kInt4CodeRange : kUint4CodeRange;

  for_each_column_group(k, n, block_size, threads, [&](const ColumnGroup& group, GroupScratch& scratch) {
    const simd::LaneValues values = column_group_values(weight, n, group, scratch.values);
    ScaleChoice choices[kLanes];
    choose_group_params(values, group.lanes, symmetric, scale_type, search_scales, choices);

    simd::LaneChoices lane_choices;
    for (int lane = 0; lane < kLanes; ++lane) {
      lane_choices.scale[lane] = choices[lane].scale;
      lane_choices.zero_point[lane] = choices[lane].zero_point;
    }
    scratch.codes.resize(static_cast<size_t>(group.length * kLanes));
    simd::primitives().lane_quantize(values, lane_choices, range, scratch.codes.data());

    // The codes are [k, n] row-major, so each row of the group is one contiguous run.
    for (int64_t j = 0; j < group.length; ++j) {
      std::memcpy(result.codes.data() + (group.k_begin + j) * n + group.column, scratch.codes.data() + j * kLanes,
                  static_cast<size_t>(group.lanes));
    }
    const int64_t parameter_row = group.k_begin / block_size * n + group.column;
    for (int lane = 0; lane < group.lanes; ++lane) {
      result.scales[parameter_row + lane] = choices[lane].scale;
      if (!symmetric) result.zero_points[parameter_row + lane] = static_cast<int8_t>(choices[lane].zero_point);
    }
  });
  return result;
}

std::vector<float> dequantize_axis_blocks(const AxisBlockQuantized& quantized, int threads) {
  const int64_t n = quantized.n;
  std::vector<float> weight(quantized.codes.size());
  const bool symmetric = quantized.zero_points.empty();
  const int64_t rows_per_task = std::max<int64_t>(1, kElementsPerTask / std::max<int64_t>(n, 1));
  parallel_for(tasks_for(quantized.k, rows_per_task), threads, [&](int64_t task) {
    const simd::Primitives& primitives = simd::primitives();
    std::vector<int32_t> codes(static_cast<size_t>(n));
    std::vector<int32_t> zero_points(static_cast<size_t>(n), 0);
    const int64_t row_end = std::min(quantized.k, (task + 1) * rows_per_task);
    for (int64_t row = task * rows_per_task; row < row_end; ++row) {
      const int64_t parameter_row = row / quantized.block_size * n;
      const auto* row_codes = reinterpret_cast<const uint8_t*>(quantized.codes.data() + row * n);
      primitives.widen_bytes(row_codes, n, true, codes.data());
      if (!symmetric) {
        const auto* row_zero_points = reinterpret_cast<const uint8_t*>(quantized.zero_points.data() + parameter_row);
        primitives.widen_bytes(row_zero_points, n, true, zero_points.data());
      }
      primitives.dequantize_run(codes.data(), n, quantized.scales.data() + parameter_row, zero_points.data(), true,
                                weight.data() + row * n);
    }
  });
  return weight;
}

std::vector<uint8_t> pack_4bit(std::span<const int8_t> codes, int threads) {
  std::vector<uint8_t> packed((codes.size() + 1) / 2, 0);
  const auto pairs = static_cast<int64_t>(codes.size() / 2);
  parallel_for(tasks_for(pairs, kElementsPerTask), threads, [&](int64_t task) {
    const int64_t begin = task * kElementsPerTask;
    simd::primitives().pack_4bit(codes.data() + 2 * begin, std::min(kElementsPerTask, pairs - begin),
                                 packed.data() + begin);
  });
  if (codes.size() % 2 == 1) packed.back() = static_cast<uint8_t>(codes.back() & 0x0f);
  return packed;
}

}  // namespace onnxquant::kernels
