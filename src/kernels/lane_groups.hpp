// Groups of adjacent columns (or channels) that the fast kernels process together, one per vector
// lane, and the tasks that spread them over threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/linear_quantization.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels {

// Columns per task of the block kernels: a multiple of simd::kLanes.
inline constexpr int64_t kColumnsPerTask = 256;

// Rows [k_begin, k_begin + length) of columns [column, column + lanes) of a row-major [k, n] matrix.
struct ColumnGroup {
  int64_t k_begin;
  int64_t length;
  int64_t column;
  int lanes;
};

// The group's values, one column per lane. A full group is read in place; a group of fewer than
// simd::kLanes columns is copied into `buffer` with zeros in the missing lanes.
simd::LaneValues column_group_values(std::span<const float> matrix, int64_t n, const ColumnGroup& group,
                                     std::vector<float>& buffer);

// Channels [channel, channel + lanes) of a tensor in `layout`, one channel per lane, with each
// channel's values in the order the reference reads them (outer index, then inner index). The
// values are read in place when inner is 1 and the group is full, and gathered into `buffer`
// otherwise.
simd::LaneValues channel_group_values(std::span<const float> values, const AxisLayout& layout, int64_t channel,
                                      int lanes, std::vector<float>& buffer);

// Buffers that one task reuses for its groups.
struct GroupScratch {
  std::vector<float> values;
  std::vector<uint8_t> codes;
  std::vector<int32_t> integers;
};

// Calls group_task(group, scratch) for every group of simd::kLanes columns of the blocks of a
// [k, n] matrix with `block_size` rows per block. The tasks are (block row, kColumnsPerTask
// columns), and each task has its own scratch.
template <typename GroupTask>
void for_each_column_group(int64_t k, int64_t n, int64_t block_size, int threads, GroupTask group_task) {
  const int64_t column_tasks = tasks_for(n, kColumnsPerTask);
  const int64_t block_rows = tasks_for(k, block_size);
  parallel_for(block_rows * column_tasks, threads, [&](int64_t task) {
    GroupScratch scratch;
    const int64_t k_begin = task / column_tasks * block_size;
    const int64_t column_begin = task % column_tasks * kColumnsPerTask;
    const int64_t column_end = std::min(n, column_begin + kColumnsPerTask);
    for (int64_t column = column_begin; column < column_end; column += simd::kLanes) {
      const auto lanes = static_cast<int>(std::min<int64_t>(simd::kLanes, n - column));
      group_task(ColumnGroup{k_begin, std::min(block_size, k - k_begin), column, lanes}, scratch);
    }
  });
}

}  // namespace onnxquant::kernels
