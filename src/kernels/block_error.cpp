// The error of a block quantization, measured chunk by chunk without a dequantized copy of the
// weight.
#include <algorithm>
#include <array>
#include <cassert>
#include <vector>

#include "kernels/block_quantization.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels {
namespace {

// Reads the codes and parameters of a BlockQuantized weight by element, as
// dequantize_blockwise computes them.
class BlockReader {
 public:
  explicit BlockReader(const BlockQuantized& quantized)
      : q_(quantized),
        bytes_per_block_(quantized.block_size * quantized.bits / 8),
        zero_point_bytes_(quantized.bits == 8 ? quantized.blocks_per_column : (quantized.blocks_per_column + 1) / 2),
        symmetric_(quantized.zero_points.empty()) {}

  // Element (row, column) of the dequantized weight.
  float value(int64_t row, int64_t column) const {
    const int64_t b = row / q_.block_size;
    const int64_t j = row % q_.block_size;
    const int64_t block_index = column * q_.blocks_per_column + b;
    const int32_t code = code_at(q_.packed, block_index * bytes_per_block_, j);
    const int32_t zero_point =
        symmetric_ ? 1 << (q_.bits - 1) : code_at(q_.zero_points, column * zero_point_bytes_, b);
    return static_cast<float>(code - zero_point) * q_.scales[static_cast<size_t>(block_index)];
  }

 private:
  // Code `index` of the codes starting at byte `offset`: one per byte, or two per byte with the
  // even one in the low nibble.
  int32_t code_at(const std::vector<uint8_t>& bytes, int64_t offset, int64_t index) const {
    if (q_.bits == 8) return bytes[static_cast<size_t>(offset + index)];
    const uint8_t byte = bytes[static_cast<size_t>(offset + index / 2)];
    return (index & 1) != 0 ? byte >> 4 : byte & 0x0f;
  }

  const BlockQuantized& q_;
  int64_t bytes_per_block_;
  int64_t zero_point_bytes_;
  bool symmetric_;
};

}  // namespace

ErrorMetrics measure_blockwise_error(std::span<const float> weight, const BlockQuantized& quantized, int threads) {
  assert(static_cast<int64_t>(weight.size()) == quantized.k * quantized.n);
  const auto count = static_cast<int64_t>(weight.size());
  const int64_t n = quantized.n;
  const BlockReader reader(quantized);
  const simd::Primitives& primitives = simd::primitives();
  std::vector<simd::ErrorSums> partial(static_cast<size_t>(tasks_for(count, kErrorChunk)));
  parallel_for(static_cast<int64_t>(partial.size()), threads, [&](int64_t chunk) {
    const int64_t begin = chunk * kErrorChunk;
    const int64_t length = std::min(kErrorChunk, count - begin);
    std::array<float, kErrorChunk> restored;
    int64_t row = begin / n;
    int64_t column = begin % n;
    for (int64_t i = 0; i < length; ++i) {
      restored[static_cast<size_t>(i)] = reader.value(row, column);
      if (++column == n) {
        column = 0;
        ++row;
      }
    }
    partial[static_cast<size_t>(chunk)] = primitives.error_sums(weight.data() + begin, restored.data(), length);
  });
  // In chunk order, as measure_error adds its chunk sums.
  simd::ErrorSums total;
  for (const simd::ErrorSums& sums : partial) simd::accumulate(total, sums);
  return metrics_from_sums(total, static_cast<uint64_t>(count));
}

}  // namespace onnxquant::kernels
