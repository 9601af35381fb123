// The fast quantization kernels against their scalar references: every output bit for bit, with
// the portable and the AVX2 primitives and with 1, 2, 3 and 8 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernel_test_data.hpp"
#include "kernels/axis_block_quantization.hpp"
#include "kernels/block_quantization.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {
namespace {

using testing::bits_of;
using testing::Distribution;
using testing::for_each_level_and_thread_count;
using testing::random_values;

constexpr uint32_t kSeed = 20261204;

struct BlockCase {
  int64_t k;
  int64_t n;
  int64_t block_size;
  int64_t bits;
  bool symmetric;
  bool search;
  ScaleType scale_type;
  Distribution distribution;

  std::string describe() const {
    return "k " + std::to_string(k) + ", n " + std::to_string(n) + ", block " + std::to_string(block_size) +
           ", bits " + std::to_string(bits) + (symmetric ? ", symmetric" : ", asymmetric") +
           (search ? ", search" : ", min/max") + (scale_type == ScaleType::kFloat16 ? ", float16 scales" : "") +
           ", " + testing::to_string(distribution);
  }
};

// Shapes with K and N that are not multiples of the block size or of the eight lanes, a single
// element, and N beyond one task of 256 columns.
std::vector<BlockCase> block_cases(const std::vector<int64_t>& block_sizes) {
  struct Shape {
    int64_t k;
    int64_t n;
  };
  const std::vector<Shape> shapes = {{1, 1}, {31, 7}, {64, 8}, {100, 9}, {40, 33}, {70, 260}};
  const Distribution distributions[] = {Distribution::kNormal, Distribution::kHeavyTail, Distribution::kSpecial};
  std::vector<BlockCase> cases;
  int index = 0;
  for (const Shape& shape : shapes) {
    for (int64_t block_size : block_sizes) {
      for (int variant = 0; variant < 8; ++variant) {
        const bool symmetric = (variant & 1) != 0;
        const bool search = (variant & 2) != 0;
        const int64_t bits = (variant & 4) != 0 ? 8 : 4;
        const ScaleType scale_type = index % 2 == 0 ? ScaleType::kFloat32 : ScaleType::kFloat16;
        cases.push_back({shape.k, shape.n, block_size, bits, symmetric, search, scale_type, distributions[index % 3]});
        ++index;
      }
    }
  }
  return cases;
}

void expect_same(const BlockQuantized& fast, const BlockQuantized& reference) {
  EXPECT_EQ(fast.blocks_per_column, reference.blocks_per_column);
  EXPECT_EQ(fast.packed, reference.packed);
  EXPECT_EQ(bits_of(fast.scales), bits_of(reference.scales));
  EXPECT_EQ(fast.zero_points, reference.zero_points);
  EXPECT_EQ(std::bit_cast<uint64_t>(fast.minmax_squared_error), std::bit_cast<uint64_t>(reference.minmax_squared_error));
}

TEST(FastBlockwise, MatchesReference) {
  for (const BlockCase& c : block_cases({16, 32, 128})) {
    SCOPED_TRACE(c.describe());
    const auto weight = random_values(static_cast<size_t>(c.k * c.n), c.distribution, kSeed + c.k * 31 + c.n);
    const BlockQuantized expected =
        reference::quantize_blockwise(weight, c.k, c.n, c.block_size, c.bits, c.symmetric, c.scale_type, c.search);
    const std::vector<float> expected_restored = reference::dequantize_blockwise(expected);
    for_each_level_and_thread_count([&](int threads) {
      const BlockQuantized quantized = quantize_blockwise(weight, c.k, c.n, c.block_size, c.bits, c.symmetric,
                                                          c.scale_type, c.search, threads);
      expect_same(quantized, expected);
      EXPECT_EQ(bits_of(dequantize_blockwise(expected, threads)), bits_of(expected_restored));
    });
  }
}

// Columns that exercise each rule of the min/max choice: all zeros, all NaN, a lone infinity,
// equal magnitudes of both signs (the first one wins), and a sign-flipped repeat of column 0.
std::vector<float> edge_columns(int64_t k, int64_t n) {
  std::vector<float> weight = random_values(static_cast<size_t>(k * n), Distribution::kNormal, kSeed);
  for (int64_t row = 0; row < k; ++row) {
    weight[row * n + 1] = 0.0f;
    weight[row * n + 2] = std::numeric_limits<float>::quiet_NaN();
    weight[row * n + 3] = row == 5 ? std::numeric_limits<float>::infinity() : 0.25f;
    weight[row * n + 4] = row % 2 == 0 ? 2.0f : -2.0f;
    weight[row * n + 5] = -weight[row * n];
  }
  return weight;
}

TEST(FastBlockwise, EdgeColumnsMatchReference) {
  constexpr int64_t kK = 48;
  constexpr int64_t kN = 11;
  const std::vector<float> weight = edge_columns(kK, kN);
  for (int64_t bits : {4, 8}) {
    for (bool symmetric : {true, false}) {
      for (bool search : {false, true}) {
        SCOPED_TRACE("bits " + std::to_string(bits) + (symmetric ? " symmetric" : " asymmetric") +
                     (search ? " search" : ""));
        const BlockQuantized expected =
            reference::quantize_blockwise(weight, kK, kN, 16, bits, symmetric, ScaleType::kFloat32, search);
        for_each_level_and_thread_count([&](int threads) {
          expect_same(quantize_blockwise(weight, kK, kN, 16, bits, symmetric, ScaleType::kFloat32, search, threads),
                      expected);
        });
      }
    }
  }
}

TEST(FastAxisBlocks, MatchesReference) {
  // DequantizeLinear blocks may have any length, odd ones included.
  for (const BlockCase& c : block_cases({1, 3, 16, 32})) {
    if (c.bits != 4) continue;
    SCOPED_TRACE(c.describe());
    const auto weight = random_values(static_cast<size_t>(c.k * c.n), c.distribution, kSeed + c.k * 17 + c.n);
    const AxisBlockQuantized expected =
        reference::quantize_axis_blocks_4bit(weight, c.k, c.n, c.block_size, c.symmetric, c.scale_type, c.search);
    const std::vector<float> expected_restored = reference::dequantize_axis_blocks(expected);
    for_each_level_and_thread_count([&](int threads) {
      const AxisBlockQuantized quantized = quantize_axis_blocks_4bit(weight, c.k, c.n, c.block_size, c.symmetric,
                                                                     c.scale_type, c.search, threads);
      EXPECT_EQ(quantized.codes, expected.codes);
      EXPECT_EQ(bits_of(quantized.scales), bits_of(expected.scales));
      EXPECT_EQ(quantized.zero_points, expected.zero_points);
      EXPECT_EQ(bits_of(dequantize_axis_blocks(expected, threads)), bits_of(expected_restored));
    });
  }
}

TEST(FastPack4Bit, OddSizesMatchReference) {
  for (size_t count : {0, 1, 2, 31, 32, 33, 65, 1001}) {
    SCOPED_TRACE("count " + std::to_string(count));
    std::vector<int8_t> codes(count);
    for (size_t i = 0; i < count; ++i) codes[i] = static_cast<int8_t>(static_cast<int>(i * 7 % 16) - 8);
    const std::vector<uint8_t> expected = reference::pack_4bit(codes);
    for_each_level_and_thread_count([&](int threads) { EXPECT_EQ(pack_4bit(codes, threads), expected); });
  }
}

struct LinearCase {
  AxisLayout layout;
  bool symmetric;
  bool search;
  Distribution distribution;

  std::string describe() const {
    return "layout [" + std::to_string(layout.outer) + ", " + std::to_string(layout.channels) + ", " +
           std::to_string(layout.inner) + "]" + (symmetric ? ", symmetric" : ", asymmetric") +
           (search ? ", search" : ", min/max") + ", " + testing::to_string(distribution);
  }
};

// Per-tensor, MatMul per-channel (inner 1, with and without a partial group of eight channels),
// Conv-like channels with long and short inner runs, and fewer channels than lanes.
std::vector<LinearCase> linear_cases() {
  const std::vector<AxisLayout> layouts = {{1, 1, 1000}, {1, 1, 37}, {64, 13, 1}, {40, 8, 1}, {33, 24, 1},
                                           {1, 6, 50},   {1, 12, 9}, {3, 10, 4},  {2, 5, 3}};
  const Distribution distributions[] = {Distribution::kNormal, Distribution::kHeavyTail, Distribution::kSpecial};
  std::vector<LinearCase> cases;
  int index = 0;
  for (const AxisLayout& layout : layouts) {
    for (int variant = 0; variant < 4; ++variant) {
      cases.push_back({layout, (variant & 1) != 0, (variant & 2) != 0, distributions[index++ % 3]});
    }
  }
  return cases;
}

TEST(FastLinear, MatchesReference) {
  for (const LinearCase& c : linear_cases()) {
    SCOPED_TRACE(c.describe());
    const IntegerRange range = c.symmetric ? kInt8SymmetricRange : kUint8Range;
    const auto values = random_values(static_cast<size_t>(c.layout.size()), c.distribution,
                                      kSeed + static_cast<uint32_t>(c.layout.channels * 7 + c.layout.inner));
    const auto expected_params = reference::choose_linear_params(values, c.layout, c.symmetric, range, c.search);
    std::vector<uint8_t> expected_codes(values.size());
    reference::quantize_linear(values, c.layout, expected_params, range, expected_codes);
    std::vector<float> expected_restored(values.size());
    reference::dequantize_linear(expected_codes, c.layout, expected_params, c.symmetric, expected_restored);

    for_each_level_and_thread_count([&](int threads) {
      const auto params = choose_linear_params(values, c.layout, c.symmetric, range, c.search, threads);
      ASSERT_EQ(params.size(), expected_params.size());
      for (size_t channel = 0; channel < params.size(); ++channel) {
        const auto scale_bits = std::bit_cast<uint32_t>(params[channel].scale);
        EXPECT_EQ(scale_bits, std::bit_cast<uint32_t>(expected_params[channel].scale)) << "channel " << channel;
        EXPECT_EQ(params[channel].zero_point, expected_params[channel].zero_point) << "channel " << channel;
      }
      std::vector<uint8_t> codes(values.size());
      quantize_linear(values, c.layout, expected_params, range, codes, threads);
      EXPECT_EQ(codes, expected_codes);
      std::vector<float> restored(values.size());
      dequantize_linear(expected_codes, c.layout, expected_params, c.symmetric, restored, threads);
      EXPECT_EQ(bits_of(restored), bits_of(expected_restored));
    });
  }
}

float store_identity(float scale) { return scale; }
float store_float16(float scale) { return store_scale(scale, ScaleType::kFloat16); }

struct SearchCase {
  CodeRange range;
  int32_t zero_point;
  bool fixed_zero_point;
  bool allow_sign_flip;
  StoreScale store;
  const char* name;
};

TEST(FastScaleSearch, MatchesReference) {
  const std::vector<SearchCase> cases = {
      {{0, 15}, 8, true, true, store_float16, "MatMulNBits int4 symmetric, both signs, float16 scales"},
      {{0, 15}, 0, false, false, store_identity, "uint4 asymmetric"},
      {{-127, 127}, 0, true, false, store_identity, "int8 symmetric"},
      {{0, 255}, 0, false, false, store_identity, "uint8 asymmetric"},
  };
  for (const SearchCase& c : cases) {
    for (size_t count : {1, 5, 32, 100, 5000}) {
      for (Distribution distribution : {Distribution::kNormal, Distribution::kHeavyTail, Distribution::kSpecial}) {
        SCOPED_TRACE(std::string(c.name) + ", " + std::to_string(count) + " values, " +
                     testing::to_string(distribution));
        const auto values = random_values(count, distribution, kSeed + static_cast<uint32_t>(count));
        float largest = 0.0f;
        for (float x : values) {
          if (std::isfinite(x)) largest = std::max(largest, std::fabs(x));
        }
        const ScaleChoice initial{largest > 0.0f ? largest / 7.0f : 1.0f, c.zero_point};
        const ScaleChoice expected =
            reference::search_scale(values, c.range, initial, c.fixed_zero_point, c.store, c.allow_sign_flip);
        for_each_level_and_thread_count([&](int threads) {
          const ScaleChoice searched =
              search_scale(values, c.range, initial, c.fixed_zero_point, c.store, c.allow_sign_flip, threads);
          EXPECT_EQ(std::bit_cast<uint32_t>(searched.scale), std::bit_cast<uint32_t>(expected.scale));
          EXPECT_EQ(searched.zero_point, expected.zero_point);
        });
      }
    }
  }
}

}  // namespace
}  // namespace onnxquant::kernels
