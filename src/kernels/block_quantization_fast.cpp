// MatMulNBits block quantization on eight adjacent columns at once: the lanes of the vector
// primitives hold the same block row of eight columns, so a lane computes exactly the reference's
// block.
#include <algorithm>
#include <cassert>

#include "kernels/block_quantization.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/lane_groups.hpp"
#include "kernels/minmax_params.hpp"
#include "kernels/scale_search_lanes.hpp"

namespace onnxquant::kernels {
namespace {

using simd::kLanes;

struct BlockLayout {
  int64_t bits;
  int64_t blocks;           // per column
  int64_t bytes_per_block;  // block_size * bits / 8
  int64_t block_size;
};

// The min/max choice of every lane, then the searched one when `search_scales`.
void choose_group_params(const simd::LaneValues& values, int lanes, int64_t bits, bool symmetric,
                         ScaleType scale_type, bool search_scales, ScaleChoice* choices, double* minmax_errors) {
  const simd::Primitives& primitives = simd::primitives();
  if (symmetric) {
    float largest[kLanes];
    primitives.lane_largest_magnitude(values, largest);
    for (int lane = 0; lane < kLanes; ++lane) choices[lane] = nbits_symmetric_params(largest[lane], bits, scale_type);
  } else {
    float min[kLanes];
    float max[kLanes];
    primitives.lane_range(values, min, max);
    for (int lane = 0; lane < kLanes; ++lane) {
      choices[lane] = nbits_asymmetric_params(min[lane], max[lane], bits, scale_type);
    }
  }
  if (!search_scales) return;

  ScaleChoice searched[kLanes];
  search_scale_lanes(values, lanes, {0, (1 << bits) - 1}, choices, symmetric, store_for(scale_type),
                     /*allow_sign_flip=*/true, searched, minmax_errors);
  std::copy_n(searched, lanes, choices);
}

// Writes the codes of one lane as one MatMulNBits block; rows past `length` get the zero point.
void write_block(const uint8_t* lane_codes, int64_t length, int32_t zero_point, const BlockLayout& layout,
                 uint8_t* block) {
  auto code = [&](int64_t j) { return j < length ? lane_codes[j * kLanes] : static_cast<uint8_t>(zero_point); };
  if (layout.bits == 8) {
    for (int64_t j = 0; j < layout.block_size; ++j) block[j] = code(j);
    return;
  }
  for (int64_t i = 0; i < layout.bytes_per_block; ++i) {
    block[i] = static_cast<uint8_t>((code(2 * i) & 0x0f) | ((code(2 * i + 1) & 0x0f) << 4));
  }
}

// Packs the zero points [n, blocks] as MatMulNBits stores them: one byte each for 8 bits, two per
// byte (even block in the low nibble) for 4 bits, each column starting on a new byte.
std::vector<uint8_t> pack_zero_points(const std::vector<int32_t>& zero_points, int64_t n, const BlockLayout& layout) {
  if (layout.bits == 8) return std::vector<uint8_t>(zero_points.begin(), zero_points.end());
  const int64_t bytes_per_column = (layout.blocks + 1) / 2;
  std::vector<uint8_t> packed(static_cast<size_t>(n * bytes_per_column), 0);
  for (int64_t column = 0; column < n; ++column) {
    for (int64_t b = 0; b < layout.blocks; ++b) {
      const auto nibble = static_cast<uint8_t>(zero_points[column * layout.blocks + b] & 0x0f);
      packed[column * bytes_per_column + b / 2] |= b % 2 == 0 ? nibble : static_cast<uint8_t>(nibble << 4);
    }
  }
  return packed;
}

// Reads the first `length` codes of one MatMulNBits block into codes[j * kLanes].
void unpack_block(const uint8_t* block, int64_t length, int64_t bits, int32_t* codes) {
  if (bits == 8) {
    for (int64_t j = 0; j < length; ++j) codes[j * kLanes] = block[j];
    return;
  }
  for (int64_t j = 0; j < length; ++j) codes[j * kLanes] = (block[j / 2] >> (j % 2 * 4)) & 0x0f;
}

}  // namespace

BlockQuantized quantize_blockwise_int4(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                       bool symmetric, ScaleType scale_type, bool search_scales, int threads) {
  return quantize_blockwise(weight, k, n, block_size, 4, symmetric, scale_type, search_scales, threads);
}

BlockQuantized quantize_blockwise(std::span<const float> weight, int64_t k, int64_t n, int64_t block_size,
                                  int64_t bits, bool symmetric, ScaleType scale_type, bool search_scales,
                                  int threads, std::span<const float> row_importance) {
  // TODO: vectorize the importance-weighted search; it runs the scalar reference for now.
  if (search_scales && !row_importance.empty()) {
    return reference::quantize_blockwise(weight, k, n, block_size, bits, symmetric, scale_type, search_scales,
                                         row_importance);
  }
  assert(static_cast<int64_t>(weight.size()) == k * n);
  assert(bits == 4 || bits == 8);
  assert(block_size >= 2);
  assert(block_size % 2 == 0);

  const BlockLayout layout{bits, blocks_per_column(k, block_size), block_size * bits / 8, block_size};
  BlockQuantized result;
  result.k = k;
  result.n = n;
  result.block_size = block_size;
  result.bits = bits;
  result.blocks_per_column = layout.blocks;
  result.packed.assign(static_cast<size_t>(n * layout.blocks * layout.bytes_per_block), 0);
  result.scales.resize(static_cast<size_t>(n * layout.blocks));
  std::vector<int32_t> zero_points(symmetric ? 0 : static_cast<size_t>(n * layout.blocks));
  // The min/max error of each block, summed in block order at the end as the reference sums it.
  std::vector<double> minmax_errors(search_scales ? static_cast<size_t>(n * layout.blocks) : 0);
  const CodeRange range{0, (1 << bits) - 1};
  // The error sums of each task; a task's groups run in column order on one thread.
  const int64_t column_tasks = tasks_for(n, kColumnsPerTask);
  std::vector<simd::ErrorSums> task_sums(static_cast<size_t>(layout.blocks * column_tasks));

  for_each_column_group(k, n, block_size, threads, [&](const ColumnGroup& group, GroupScratch& scratch) {
    const simd::LaneValues values = column_group_values(weight, n, group, scratch.values);
    ScaleChoice choices[kLanes];
    double group_errors[kLanes] = {};
    choose_group_params(values, group.lanes, bits, symmetric, scale_type, search_scales, choices, group_errors);

    simd::LaneChoices lane_choices;
    for (int lane = 0; lane < kLanes; ++lane) {
      lane_choices.scale[lane] = choices[lane].scale;
      lane_choices.zero_point[lane] = choices[lane].zero_point;
    }
    scratch.codes.resize(static_cast<size_t>(group.length * kLanes));
    simd::primitives().lane_quantize(values, lane_choices, range, scratch.codes.data());

    const int64_t b = group.k_begin / block_size;
    simd::LaneErrorSums lane_sums;
    simd::primitives().lane_error_sums(values, lane_choices, range, lane_sums);
    simd::ErrorSums& sums = task_sums[static_cast<size_t>(b * column_tasks + group.column / kColumnsPerTask)];
    for (int lane = 0; lane < group.lanes; ++lane) simd::accumulate(sums, lane_sums.lane(lane));
    for (int lane = 0; lane < group.lanes; ++lane) {
      const int64_t block_index = (group.column + lane) * layout.blocks + b;
      result.scales[block_index] = choices[lane].scale;
      if (search_scales) minmax_errors[block_index] = group_errors[lane];
      if (!symmetric) zero_points[block_index] = choices[lane].zero_point;
      write_block(scratch.codes.data() + lane, group.length, choices[lane].zero_point, layout,
                  result.packed.data() + block_index * layout.bytes_per_block);
    }
  });

  if (!symmetric) result.zero_points = pack_zero_points(zero_points, n, layout);
  for (double error : minmax_errors) result.minmax_squared_error += error;
  simd::ErrorSums total;
  for (const simd::ErrorSums& sums : task_sums) simd::accumulate(total, sums);
  result.error = metrics_from_sums(total, static_cast<uint64_t>(k * n));
  return result;
}

std::vector<float> dequantize_blockwise_int4(const BlockQuantized& quantized, int threads) {
  return dequantize_blockwise(quantized, threads);
}

std::vector<float> dequantize_blockwise(const BlockQuantized& quantized, int threads) {
  const int64_t n = quantized.n;
  const int64_t bits = quantized.bits;
  const int64_t blocks = quantized.blocks_per_column;
  const int64_t bytes_per_block = quantized.block_size * bits / 8;
  const int64_t zero_point_bytes = bits == 8 ? blocks : (blocks + 1) / 2;
  const CodeType code_type = bits == 8 ? CodeType::kUint8 : CodeType::kUint4;
  const bool symmetric = quantized.zero_points.empty();
  std::vector<float> weight(static_cast<size_t>(quantized.k * n));

  for_each_column_group(quantized.k, n, quantized.block_size, threads,
                        [&](const ColumnGroup& group, GroupScratch& scratch) {
    // Codes of the group's blocks, transposed to one column per lane; missing lanes stay 0.
    scratch.integers.assign(static_cast<size_t>(group.length * kLanes), 0);
    float scales[kLanes] = {};
    int32_t zero_points[kLanes] = {};
    const int64_t b = group.k_begin / quantized.block_size;
    for (int lane = 0; lane < group.lanes; ++lane) {
      const int64_t column = group.column + lane;
      const int64_t block_index = column * blocks + b;
      unpack_block(quantized.packed.data() + block_index * bytes_per_block, group.length, bits,
                   scratch.integers.data() + lane);
      scales[lane] = quantized.scales[block_index];
      zero_points[lane] = symmetric ? 1 << (bits - 1)
                                    : read_code(std::span(quantized.zero_points).subspan(column * zero_point_bytes),
                                                code_type, b);
    }

    const simd::Primitives& primitives = simd::primitives();
    float row[kLanes];
    for (int64_t j = 0; j < group.length; ++j) {
      float* output = weight.data() + (group.k_begin + j) * n + group.column;
      const bool in_place = group.lanes == kLanes;
      primitives.dequantize_run(scratch.integers.data() + j * kLanes, kLanes, scales, zero_points, true,
                                in_place ? output : row);
      if (!in_place) std::copy_n(row, group.lanes, output);
    }
  });
  return weight;
}

}  // namespace onnxquant::kernels
