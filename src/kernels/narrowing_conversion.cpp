#include "kernels/narrowing_conversion.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <vector>

#include "kernels/parallel.hpp"

namespace onnxquant::kernels {

NarrowingConversion::ChunkResult NarrowingConversion::convert_chunk(const float* values, int64_t count,
                                                                    uint16_t* output) const {
  const simd::Primitives& primitives = simd::primitives();
  const bool half = type_ == NarrowType::kFloat16;
  ChunkResult result;
  result.saturated_values = half ? primitives.float_to_half(values, count, true, output)
                                 : primitives.float_to_bfloat16(values, count, true, output);

  std::array<float, kErrorChunk> restored;
  if (half) {
    primitives.half_to_float(output, count, restored.data());
  } else {
    primitives.bfloat16_to_float(output, count, restored.data());
  }
  int64_t nonfinite = 0;
  result.max_relative_error = primitives.max_relative_error(values, restored.data(), count, nonfinite);
  if (nonfinite == 0) {
    result.sums = primitives.error_sums(values, restored.data(), count);
    result.finite_count = static_cast<uint64_t>(count);
    return result;
  }
  std::vector<float> finite_values;
  std::vector<float> finite_restored;
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) continue;
    finite_values.push_back(values[i]);
    finite_restored.push_back(restored[static_cast<size_t>(i)]);
  }
  result.sums = primitives.error_sums(finite_values.data(), finite_restored.data(),
                                      static_cast<int64_t>(finite_values.size()));
  result.finite_count = finite_values.size();
  return result;
}

void NarrowingConversion::convert(std::span<const float> values, std::span<uint16_t> output) {
  assert(output.size() == values.size());
  const auto count = static_cast<int64_t>(values.size());
  const int64_t chunks = tasks_for(count, kErrorChunk);
  std::vector<ChunkResult> results(static_cast<size_t>(chunks));
  parallel_for(chunks, threads_, [&](int64_t chunk) {
    const int64_t begin = chunk * kErrorChunk;
    results[static_cast<size_t>(chunk)] =
        convert_chunk(values.data() + begin, std::min(kErrorChunk, count - begin), output.data() + begin);
  });
  // In chunk order, as measure_error adds its chunk sums.
  for (const ChunkResult& result : results) {
    simd::accumulate(sums_, result.sums);
    finite_count_ += result.finite_count;
    max_relative_error_ = std::max(max_relative_error_, result.max_relative_error);
    saturated_values_ += result.saturated_values;
  }
}

}  // namespace onnxquant::kernels
