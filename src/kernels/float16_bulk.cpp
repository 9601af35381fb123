// Whole-tensor float16 and bfloat16 conversions: fixed chunks of elements on the vector primitives.
#include <algorithm>
#include <atomic>
#include <cassert>

#include "kernels/float16.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels {
namespace {

constexpr int64_t kChunk = 65536;

// Calls convert(begin, length) for each chunk of `count` elements and adds up what it returns.
template <typename Convert>
uint64_t convert_in_chunks(size_t count, int threads, Convert convert) {
  const auto total = static_cast<int64_t>(count);
  std::atomic<uint64_t> sum{0};
  parallel_for(tasks_for(total, kChunk), threads, [&](int64_t chunk) {
    const int64_t begin = chunk * kChunk;
    sum += convert(begin, std::min(kChunk, total - begin));
  });
  return sum.load();
}

uint64_t to_half(std::span<const float> values, std::span<uint16_t> output, bool saturate, int threads) {
  assert(output.size() == values.size());
  const simd::Primitives& primitives = simd::primitives();
  return convert_in_chunks(values.size(), threads, [&](int64_t begin, int64_t length) {
    return primitives.float_to_half(values.data() + begin, length, saturate, output.data() + begin);
  });
}

uint64_t to_bfloat16(std::span<const float> values, std::span<uint16_t> output, bool saturate, int threads) {
  assert(output.size() == values.size());
  const simd::Primitives& primitives = simd::primitives();
  return convert_in_chunks(values.size(), threads, [&](int64_t begin, int64_t length) {
    return primitives.float_to_bfloat16(values.data() + begin, length, saturate, output.data() + begin);
  });
}

}  // namespace

void convert_float_to_half(std::span<const float> values, std::span<uint16_t> output, int threads) {
  to_half(values, output, false, threads);
}

uint64_t convert_float_to_half_saturating(std::span<const float> values, std::span<uint16_t> output, int threads) {
  return to_half(values, output, true, threads);
}

void convert_float_to_bfloat16(std::span<const float> values, std::span<uint16_t> output, int threads) {
  to_bfloat16(values, output, false, threads);
}

uint64_t convert_float_to_bfloat16_saturating(std::span<const float> values, std::span<uint16_t> output,
                                              int threads) {
  return to_bfloat16(values, output, true, threads);
}

void convert_half_to_float(std::span<const uint16_t> bits, std::span<float> output, int threads) {
  assert(output.size() == bits.size());
  const simd::Primitives& primitives = simd::primitives();
  convert_in_chunks(bits.size(), threads, [&](int64_t begin, int64_t length) {
    primitives.half_to_float(bits.data() + begin, length, output.data() + begin);
    return uint64_t{0};
  });
}

void convert_bfloat16_to_float(std::span<const uint16_t> bits, std::span<float> output, int threads) {
  assert(output.size() == bits.size());
  const simd::Primitives& primitives = simd::primitives();
  convert_in_chunks(bits.size(), threads, [&](int64_t begin, int64_t length) {
    primitives.bfloat16_to_float(bits.data() + begin, length, output.data() + begin);
    return uint64_t{0};
  });
}

}  // namespace onnxquant::kernels
