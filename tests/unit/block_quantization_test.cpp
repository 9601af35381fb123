#include "kernels/block_quantization.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernels/float16.hpp"

namespace onnxquant::kernels {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr uint32_t kRandomSeed = 777;
// Slack for float rounding in x / scale and (q - zero_point) * scale, relative to the block's scale.
constexpr float kRoundingSlack = 1.0e-5f;

// Builds a [k, n] row-major weight from value(row, column).
std::vector<float> make_weight(int64_t k, int64_t n, const std::function<float(int64_t, int64_t)>& value) {
  std::vector<float> weight(static_cast<size_t>(k * n));
  for (int64_t row = 0; row < k; ++row) {
    for (int64_t column = 0; column < n; ++column) weight[row * n + column] = value(row, column);
  }
  return weight;
}

std::vector<float> random_weight(int64_t k, int64_t n, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> distribution(0.0f, 0.5f);
  std::vector<float> weight(static_cast<size_t>(k * n));
  for (float& x : weight) x = distribution(generator);
  return weight;
}

// Decodes one element from the documented MatMulNBits layout. Packed is [N, blocks, block_size / 2]
// with the even element of each byte in the low nibble. Scales are [N, blocks]. Zero points are
// [N, ceil(blocks / 2)] with the even block in the low nibble, or 8 for every block when symmetric.
float reference_dequantize(const BlockQuantized& q, bool symmetric, int64_t row, int64_t column) {
  const int64_t blocks = (q.k + q.block_size - 1) / q.block_size;
  const int64_t block = row / q.block_size;
  const int64_t position = row % q.block_size;

  const uint8_t byte = q.packed[static_cast<size_t>((column * blocks + block) * (q.block_size / 2) + position / 2)];
  const int code = position % 2 == 0 ? (byte & 0x0F) : (byte >> 4);

  int zero_point = 8;
  if (!symmetric) {
    const int64_t zero_point_bytes = (blocks + 1) / 2;
    const uint8_t zero_point_byte = q.zero_points[static_cast<size_t>(column * zero_point_bytes + block / 2)];
    zero_point = block % 2 == 0 ? (zero_point_byte & 0x0F) : (zero_point_byte >> 4);
  }
  return static_cast<float>(code - zero_point) * q.scales[static_cast<size_t>(column * blocks + block)];
}

int low_nibble(uint8_t byte) { return byte & 0x0F; }
int high_nibble(uint8_t byte) { return byte >> 4; }

TEST(BlockInt4, BlocksPerColumn) {
  EXPECT_EQ(blocks_per_column(40, 32), 2);
  EXPECT_EQ(blocks_per_column(32, 32), 1);
  EXPECT_EQ(blocks_per_column(1, 16), 1);
  EXPECT_EQ(blocks_per_column(48, 16), 3);
}

TEST(BlockInt4, OutputSizes) {
  // K = 40, block 32: 2 blocks per column, 16 bytes per block, 1 zero point byte per column.
  const auto weight = random_weight(40, 3, kRandomSeed);
  const auto asymmetric = quantize_blockwise_int4(weight, 40, 3, 32, false, ScaleType::kFloat32);
  EXPECT_EQ(asymmetric.k, 40);
  EXPECT_EQ(asymmetric.n, 3);
  EXPECT_EQ(asymmetric.block_size, 32);
  EXPECT_EQ(asymmetric.blocks_per_column, 2);
  EXPECT_EQ(asymmetric.packed.size(), 3u * 2u * 16u);
  EXPECT_EQ(asymmetric.scales.size(), 3u * 2u);
  EXPECT_EQ(asymmetric.zero_points.size(), 3u);

  const auto symmetric = quantize_blockwise_int4(weight, 40, 3, 32, true, ScaleType::kFloat32);
  EXPECT_EQ(symmetric.packed.size(), 3u * 2u * 16u);
  EXPECT_EQ(symmetric.scales.size(), 3u * 2u);
  EXPECT_TRUE(symmetric.zero_points.empty());
}

TEST(BlockInt4Symmetric, PackedBytesHandCase) {
  // The largest magnitude is -8, so scale = -8 / -8 = 1 and code = x + 8.
  const std::vector<float> weight{-8, 7, 0, 1, 2, 3, -1, -2, 4, 5, 6, -3, -4, -5, -6, -7};
  const auto q = quantize_blockwise_int4(weight, 16, 1, 16, true, ScaleType::kFloat32);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_EQ(q.scales[0], 1.0f);
  // Codes 0 15 | 8 9 | 10 11 | 7 6 | 12 13 | 14 5 | 4 3 | 2 1, even element in the low nibble.
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0xF0, 0x98, 0xBA, 0x67, 0xDC, 0x5E, 0x34, 0x12}));
}

TEST(BlockInt4Asymmetric, PackedBytesHandCase) {
  // Values -5..10 span 15, so scale 1 and zero point round(5 / 1) = 5. The codes x + 5 are 0..15.
  std::vector<float> weight;
  for (int i = 0; i < 16; ++i) weight.push_back(static_cast<float>(i - 5));
  const auto q = quantize_blockwise_int4(weight, 16, 1, 16, false, ScaleType::kFloat32);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(q.zero_points, (std::vector<uint8_t>{0x05}));
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE}));
}

TEST(BlockInt4, LowNibbleHoldsEvenElement) {
  // Block of 2: largest magnitude -8 gives scale 1, so element 0 (7) is code 15 and element 1 (-8) is code 0.
  const std::vector<float> weight{7.0f, -8.0f};
  const auto q = quantize_blockwise_int4(weight, 2, 1, 2, true, ScaleType::kFloat32);
  ASSERT_EQ(q.packed.size(), 1u);
  EXPECT_EQ(low_nibble(q.packed[0]), 15);
  EXPECT_EQ(high_nibble(q.packed[0]), 0);
}

TEST(BlockInt4, ColumnsMapToPackedRows) {
  // Column 0 contains k - 8 (largest -8, scale 1, code k). Column 1 contains 2 * (7 - k) (largest -16,
  // scale 2, code 15 - k). Weight is [K, N] row-major and the packed output is [N, blocks, bytes].
  const auto weight = make_weight(16, 2, [](int64_t k, int64_t c) {
    return c == 0 ? static_cast<float>(k - 8) : 2.0f * static_cast<float>(7 - k);
  });
  const auto q = quantize_blockwise_int4(weight, 16, 2, 16, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales, (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE,  //
                                            0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01}));
}

// K = 40, N = 3, block 32: block 0 has rows 0..31 and the tail block rows 32..39 (8 real elements,
// 24 padding elements). Block 0 of every column contains a huge 1000 at row 20, a position that the
// tail block has only as padding.
constexpr int64_t kTailK = 40;
constexpr int64_t kTailN = 3;
constexpr int64_t kTailBlock = 32;
constexpr int64_t kTailBytesPerBlock = kTailBlock / 2;

float head_value(int64_t k, int64_t c) {
  if (k == 20) return 1000.0f;
  return 0.01f * static_cast<float>(k) - 0.1f * static_cast<float>(c);
}

// Symmetric tail of column c: {-8, 1, 2, 3, -1, -2, 0, 7} * (c + 1). The largest magnitude is
// -8 * (c + 1), so the scale is c + 1 and the codes are {0, 9, 10, 11, 7, 6, 8, 15}.
const std::vector<float> kSymmetricTail{-8, 1, 2, 3, -1, -2, 0, 7};
const std::vector<uint8_t> kSymmetricTailBytes{0x90, 0xBA, 0x67, 0xF8};

std::vector<float> symmetric_tail_weight() {
  return make_weight(kTailK, kTailN, [](int64_t k, int64_t c) {
    if (k < kTailBlock) return head_value(k, c);
    return kSymmetricTail[static_cast<size_t>(k - kTailBlock)] * static_cast<float>(c + 1);
  });
}

// Asymmetric tail of column c: {0, 15, 1, 2, 3, 4, 5, 6} - z with z = {3, 9, 14}[c]. The span is
// 15, so the scale is 1, the zero point is z and the codes are {0, 15, 1, 2, 3, 4, 5, 6}.
const std::vector<float> kAsymmetricTailCodes{0, 15, 1, 2, 3, 4, 5, 6};
const std::vector<int> kAsymmetricTailZeroPoints{3, 9, 14};
const std::vector<uint8_t> kAsymmetricTailBytes{0xF0, 0x21, 0x43, 0x65};

std::vector<float> asymmetric_tail_weight() {
  return make_weight(kTailK, kTailN, [](int64_t k, int64_t c) {
    if (k < kTailBlock) return head_value(k, c);
    return kAsymmetricTailCodes[static_cast<size_t>(k - kTailBlock)] - static_cast<float>(kAsymmetricTailZeroPoints[c]);
  });
}

TEST(BlockInt4Symmetric, TailRealBytes) {
  const auto q =
      quantize_blockwise_int4(symmetric_tail_weight(), kTailK, kTailN, kTailBlock, true, ScaleType::kFloat32);
  for (int64_t c = 0; c < kTailN; ++c) {
    const int64_t offset = (c * 2 + 1) * kTailBytesPerBlock;
    for (size_t i = 0; i < kSymmetricTailBytes.size(); ++i) {
      EXPECT_EQ(q.packed[offset + i], kSymmetricTailBytes[i]) << "column " << c << " byte " << i;
    }
  }
}

TEST(BlockInt4Symmetric, TailPaddingIsZeroPoint) {
  // Padding rows 40..63 are positions 8..31 of the tail block, bytes 4..15, each 8 | 8 << 4.
  const auto q =
      quantize_blockwise_int4(symmetric_tail_weight(), kTailK, kTailN, kTailBlock, true, ScaleType::kFloat32);
  for (int64_t c = 0; c < kTailN; ++c) {
    const int64_t offset = (c * 2 + 1) * kTailBytesPerBlock;
    for (int64_t i = 4; i < kTailBytesPerBlock; ++i) {
      EXPECT_EQ(q.packed[offset + i], 0x88) << "column " << c << " byte " << i;
    }
  }
}

TEST(BlockInt4Symmetric, TailScaleIgnoresPadding) {
  // The tail scale is c + 1 from its 8 real values. The 1000 at position 20 of block 0 must not leak in.
  const auto q =
      quantize_blockwise_int4(symmetric_tail_weight(), kTailK, kTailN, kTailBlock, true, ScaleType::kFloat32);
  for (int64_t c = 0; c < kTailN; ++c) {
    EXPECT_EQ(q.scales[c * 2 + 1], static_cast<float>(c + 1)) << "column " << c;
  }
  // Block 0 of column 0: largest 1000, scale 1000 / -8 = -125.
  EXPECT_EQ(q.scales[0], -125.0f);
}

TEST(BlockInt4Symmetric, TailMatchesStandaloneBlock) {
  // The same 8 values quantized as a one-block K = 8 tensor give the same scale and codes.
  const auto full =
      quantize_blockwise_int4(symmetric_tail_weight(), kTailK, kTailN, kTailBlock, true, ScaleType::kFloat32);
  const auto tail_only = make_weight(8, kTailN, [](int64_t k, int64_t c) {
    return kSymmetricTail[static_cast<size_t>(k)] * static_cast<float>(c + 1);
  });
  const auto alone = quantize_blockwise_int4(tail_only, 8, kTailN, kTailBlock, true, ScaleType::kFloat32);
  for (int64_t c = 0; c < kTailN; ++c) {
    EXPECT_EQ(full.scales[c * 2 + 1], alone.scales[c]) << "column " << c;
    for (int64_t i = 0; i < kTailBytesPerBlock; ++i) {
      EXPECT_EQ(full.packed[(c * 2 + 1) * kTailBytesPerBlock + i], alone.packed[c * kTailBytesPerBlock + i])
          << "column " << c << " byte " << i;
    }
  }
}

TEST(BlockInt4Asymmetric, TailScaleAndZeroPoint) {
  const auto q =
      quantize_blockwise_int4(asymmetric_tail_weight(), kTailK, kTailN, kTailBlock, false, ScaleType::kFloat32);
  ASSERT_EQ(q.zero_points.size(), static_cast<size_t>(kTailN));
  for (int64_t c = 0; c < kTailN; ++c) {
    EXPECT_EQ(q.scales[c * 2 + 1], 1.0f) << "column " << c;
    // Two blocks per column share one byte, and the tail (block 1) is the high nibble.
    EXPECT_EQ(high_nibble(q.zero_points[c]), kAsymmetricTailZeroPoints[c]) << "column " << c;
  }
}

TEST(BlockInt4Asymmetric, HeadZeroPointLowNibble) {
  // Block 0 of column c spans [-0.1c, 1000], and -min / scale = 0.1c * 15 / (1000 + 0.1c) < 0.5,
  // so every head zero point is 0.
  const auto q =
      quantize_blockwise_int4(asymmetric_tail_weight(), kTailK, kTailN, kTailBlock, false, ScaleType::kFloat32);
  ASSERT_EQ(q.zero_points.size(), static_cast<size_t>(kTailN));
  for (int64_t c = 0; c < kTailN; ++c) EXPECT_EQ(low_nibble(q.zero_points[c]), 0) << "column " << c;
}

TEST(BlockInt4Asymmetric, TailBytesAndPadding) {
  const auto q =
      quantize_blockwise_int4(asymmetric_tail_weight(), kTailK, kTailN, kTailBlock, false, ScaleType::kFloat32);
  for (int64_t c = 0; c < kTailN; ++c) {
    const int64_t offset = (c * 2 + 1) * kTailBytesPerBlock;
    for (size_t i = 0; i < kAsymmetricTailBytes.size(); ++i) {
      EXPECT_EQ(q.packed[offset + i], kAsymmetricTailBytes[i]) << "column " << c << " byte " << i;
    }
    const int z = kAsymmetricTailZeroPoints[c];
    for (int64_t i = 4; i < kTailBytesPerBlock; ++i) {
      EXPECT_EQ(q.packed[offset + i], z | (z << 4)) << "column " << c << " byte " << i;
    }
  }
}

TEST(BlockInt4Symmetric, AllZeroBlock) {
  // Column 0: block 0 is zero and block 1 contains -8..7. The zero block gets scale 1 and code 8.
  const auto weight = make_weight(32, 2, [](int64_t k, int64_t c) {
    if (c == 0 && k < 16) return 0.0f;
    return static_cast<float>(k % 16) - 8.0f;
  });
  const auto q = quantize_blockwise_int4(weight, 32, 2, 16, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], 1.0f);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(q.packed[i], 0x88) << "byte " << i;

  const auto restored = dequantize_blockwise_int4(q);
  for (int64_t k = 0; k < 16; ++k) EXPECT_EQ(restored[k * 2], 0.0f) << "row " << k;
}

TEST(BlockInt4Asymmetric, AllZeroBlock) {
  // The zero block gets scale 1, zero point 0 and code 0.
  const auto weight = make_weight(32, 2, [](int64_t k, int64_t c) {
    if (c == 0 && k < 16) return 0.0f;
    return static_cast<float>(k % 16) - 8.0f;
  });
  const auto q = quantize_blockwise_int4(weight, 32, 2, 16, false, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(low_nibble(q.zero_points[0]), 0);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(q.packed[i], 0x00) << "byte " << i;

  const auto restored = dequantize_blockwise_int4(q);
  for (int64_t k = 0; k < 16; ++k) EXPECT_EQ(restored[k * 2], 0.0f) << "row " << k;
}

TEST(BlockInt4Symmetric, ExtremeValueExact) {
  // Column 0 has m = 0.3 at row 5 and column 1 has m = -1.7 at row 11. All other values are smaller
  // in magnitude. scale = m / -8 is exact (division by a power of two), m / scale = -8 gives code 0
  // and (0 - 8) * scale = m exactly.
  const auto weight = make_weight(16, 2, [](int64_t k, int64_t c) {
    if (c == 0) return k == 5 ? 0.3f : 0.01f * static_cast<float>(k);
    return k == 11 ? -1.7f : 0.05f * static_cast<float>(k);
  });
  const auto q = quantize_blockwise_int4(weight, 16, 2, 16, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], -std::ldexp(0.3f, -3));
  EXPECT_EQ(q.scales[1], std::ldexp(1.7f, -3));
  // Row 5 is the high nibble of byte 2, and row 11 is the high nibble of byte 5 of column 1 (offset 8).
  EXPECT_EQ(high_nibble(q.packed[2]), 0);
  EXPECT_EQ(high_nibble(q.packed[8 + 5]), 0);

  const auto restored = dequantize_blockwise_int4(q);
  EXPECT_EQ(restored[5 * 2 + 0], 0.3f);
  EXPECT_EQ(restored[11 * 2 + 1], -1.7f);
}

TEST(BlockInt4Symmetric, OppositeExtremeSaturates) {
  // 8 is found first, so the scale is 8 / -8 = -1. -8 / -1 + 8 = 16 saturates to 15, which
  // dequantizes to (15 - 8) * -1 = -7.
  const std::vector<float> weight{8.0f, -8.0f};
  const auto q = quantize_blockwise_int4(weight, 2, 1, 2, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], -1.0f);
  EXPECT_EQ(q.packed[0], 0xF0);
  const auto restored = dequantize_blockwise_int4(q);
  EXPECT_EQ(restored[0], 8.0f);
  EXPECT_EQ(restored[1], -7.0f);
}

TEST(BlockInt4Asymmetric, OddBlockZeroPointPacking) {
  // K = 48, block 16: 3 blocks per column, so 2 zero point bytes per column. Block b of column c contains
  // j - z for j = 0..15, so scale 1, zero point z and code j.
  const std::vector<std::vector<int>> zero_points{{3, 10, 7}, {1, 15, 12}};
  const auto weight =
      make_weight(48, 2, [&](int64_t k, int64_t c) { return static_cast<float>(k % 16 - zero_points[c][k / 16]); });
  const auto q = quantize_blockwise_int4(weight, 48, 2, 16, false, ScaleType::kFloat32);
  EXPECT_EQ(q.blocks_per_column, 3);
  // Column 0: 3 | 10 << 4 = 0xA3, then 7 with an empty high nibble. Column 1: 1 | 15 << 4 = 0xF1, then 0x0C.
  EXPECT_EQ(q.zero_points, (std::vector<uint8_t>{0xA3, 0x07, 0xF1, 0x0C}));
  EXPECT_EQ(q.scales, (std::vector<float>(6, 1.0f)));
  const std::vector<uint8_t> block_bytes{0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE};
  for (size_t block = 0; block < 6; ++block) {
    for (size_t i = 0; i < block_bytes.size(); ++i) {
      EXPECT_EQ(q.packed[block * 8 + i], block_bytes[i]) << "block " << block << " byte " << i;
    }
  }
}

TEST(BlockInt4Symmetric, NonFiniteValues) {
  // Finite values {4, -2, 0...}: largest 4, scale -0.5. NaN -> 8, +Inf / -0.5 = -Inf saturates to 0,
  // -Inf saturates to 15, 4 -> -8 + 8 = 0, -2 -> 4 + 8 = 12, 0 -> 8.
  std::vector<float> weight(16, 0.0f);
  weight[0] = kNan;
  weight[1] = kInfinity;
  weight[2] = -kInfinity;
  weight[3] = 4.0f;
  weight[4] = -2.0f;
  const auto q = quantize_blockwise_int4(weight, 16, 1, 16, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], -0.5f);
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0x08, 0x0F, 0x8C, 0x88, 0x88, 0x88, 0x88, 0x88}));

  // NaN -> 0, +Inf -> (0 - 8) * -0.5 = 4, -Inf -> (15 - 8) * -0.5 = -3.5.
  const auto restored = dequantize_blockwise_int4(q);
  EXPECT_EQ(restored[0], 0.0f);
  EXPECT_EQ(restored[1], 4.0f);
  EXPECT_EQ(restored[2], -3.5f);
}

TEST(BlockInt4Asymmetric, NonFiniteValues) {
  // Finite values span [-5, 10]: scale 1, zero point 5. NaN -> 5, +Inf -> 15, -Inf -> 0, -5 -> 0,
  // 10 -> 15, 0 -> 5.
  std::vector<float> weight(16, 0.0f);
  weight[0] = kNan;
  weight[1] = kInfinity;
  weight[2] = -kInfinity;
  weight[3] = -5.0f;
  weight[4] = 10.0f;
  const auto q = quantize_blockwise_int4(weight, 16, 1, 16, false, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(q.zero_points, (std::vector<uint8_t>{0x05}));
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0xF5, 0x00, 0x5F, 0x55, 0x55, 0x55, 0x55, 0x55}));
}

TEST(BlockInt4Symmetric, AllNonFiniteBlock) {
  // No finite value: scale 1. NaN -> 8, +Inf -> 15, -Inf -> 0.
  const std::vector<float> weight{kNan, kInfinity, -kInfinity, kNan};
  const auto q = quantize_blockwise_int4(weight, 4, 1, 4, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0xF8, 0x80}));
}

TEST(BlockInt4Symmetric, SingleElement) {
  // K = 1, N = 1, block 16: scale 2 / -8 = -0.25, code 0, and 15 padding nibbles of 8.
  const std::vector<float> weight{2.0f};
  const auto q = quantize_blockwise_int4(weight, 1, 1, 16, true, ScaleType::kFloat32);
  EXPECT_EQ(q.blocks_per_column, 1);
  EXPECT_EQ(q.scales, (std::vector<float>{-0.25f}));
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0x80, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88}));
  EXPECT_EQ(dequantize_blockwise_int4(q), (std::vector<float>{2.0f}));
}

TEST(BlockInt4Asymmetric, SingleElement) {
  // Range [-15, 0]: scale 1, zero point 15, code 0, padding nibbles 15.
  const std::vector<float> weight{-15.0f};
  const auto q = quantize_blockwise_int4(weight, 1, 1, 16, false, ScaleType::kFloat32);
  EXPECT_EQ(q.scales, (std::vector<float>{1.0f}));
  EXPECT_EQ(q.zero_points, (std::vector<uint8_t>{0x0F}));
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(dequantize_blockwise_int4(q), (std::vector<float>{-15.0f}));
}

TEST(BlockInt4Symmetric, SingleRowThreeColumns) {
  // K = 1, N = 3: {2, -4, 0} gives scales {-0.25, 0.5, 1} and codes {0, 0, 8}.
  const std::vector<float> weight{2.0f, -4.0f, 0.0f};
  const auto q = quantize_blockwise_int4(weight, 1, 3, 2, true, ScaleType::kFloat32);
  EXPECT_EQ(q.scales, (std::vector<float>{-0.25f, 0.5f, 1.0f}));
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0x80, 0x80, 0x88}));
  EXPECT_EQ(dequantize_blockwise_int4(q), weight);
}

TEST(BlockInt4Float16, ScalesRepresentable) {
  const auto weight = random_weight(75, 7, kRandomSeed);
  for (bool symmetric : {true, false}) {
    const auto q = quantize_blockwise_int4(weight, 75, 7, 32, symmetric, ScaleType::kFloat16);
    for (size_t i = 0; i < q.scales.size(); ++i) {
      EXPECT_EQ(half_to_float(float_to_half(q.scales[i])), q.scales[i]) << "scale " << i << " symmetric " << symmetric;
    }
  }
}

TEST(BlockInt4Float16, CodesUseStoredScale) {
  // m = 8 + 2^-8 gives the float32 scale -(1 + 2^-11), which float16 rounds (tie to even) to -1.
  // x = 4.5 * (1 + 2^-11): x / -(1 + 2^-11) = -4.5 rounds to -4 (code 4), but x / -1 = -4.502 rounds
  // to -5 (code 3).
  const float m = 8.0f + std::ldexp(1.0f, -8);
  const float x = 4.5f * (1.0f + std::ldexp(1.0f, -11));
  const std::vector<float> weight{m, x};

  const auto half_scaled = quantize_blockwise_int4(weight, 2, 1, 2, true, ScaleType::kFloat16);
  EXPECT_EQ(half_scaled.scales[0], -1.0f);
  EXPECT_EQ(low_nibble(half_scaled.packed[0]), 0);
  EXPECT_EQ(high_nibble(half_scaled.packed[0]), 3);

  const auto float_scaled = quantize_blockwise_int4(weight, 2, 1, 2, true, ScaleType::kFloat32);
  EXPECT_EQ(float_scaled.scales[0], -(1.0f + std::ldexp(1.0f, -11)));
  EXPECT_EQ(low_nibble(float_scaled.packed[0]), 0);
  EXPECT_EQ(high_nibble(float_scaled.packed[0]), 4);
}

TEST(BlockInt4Float16, TinyScaleRaisedToSubnormal) {
  // 1e-9 / -8 is below half of the smallest float16 subnormal, so it is stored as -2^-24.
  // 1e-9 / -2^-24 = -0.017 rounds to 0, code 8, which dequantizes to 0.
  const std::vector<float> weight{1.0e-9f, 0.0f};
  const auto q = quantize_blockwise_int4(weight, 2, 1, 2, true, ScaleType::kFloat16);
  EXPECT_EQ(q.scales[0], -std::ldexp(1.0f, -24));
  EXPECT_EQ(q.packed[0], 0x88);
  EXPECT_EQ(dequantize_blockwise_int4(q), (std::vector<float>{0.0f, 0.0f}));
}

TEST(BlockInt4Float16, LargeScaleStaysFinite) {
  // 1e6 / -8 = -125000 is beyond the largest float16 (65504). An infinite stored scale would turn
  // every element of the block into (q - 8) * Inf, which is NaN for code 8.
  const std::vector<float> weight{1.0e6f, 1.0f, 0.0f, -3.0e5f};
  for (bool symmetric : {true, false}) {
    const auto q = quantize_blockwise_int4(weight, 4, 1, 4, symmetric, ScaleType::kFloat16);
    EXPECT_TRUE(std::isfinite(q.scales[0])) << "symmetric " << symmetric << " scale " << q.scales[0];
    const auto restored = dequantize_blockwise_int4(q);
    for (size_t i = 0; i < restored.size(); ++i) {
      EXPECT_TRUE(std::isfinite(restored[i])) << "symmetric " << symmetric << " row " << i << " value " << restored[i];
    }
  }
}

TEST(BlockInt4Float16, LargeScaleClampedToMax) {
  // Symmetric: 1e6 / -8 is clamped to -65504. Codes: 1e6 / -65504 = -15.3 saturates to code 0,
  // 1 and 0 give code 8, and -3e5 / -65504 = 4.58 rounds to 5 (code 13).
  const std::vector<float> weight{1.0e6f, 1.0f, 0.0f, -3.0e5f};
  const auto symmetric = quantize_blockwise_int4(weight, 4, 1, 4, true, ScaleType::kFloat16);
  EXPECT_EQ(symmetric.scales[0], -65504.0f);
  EXPECT_EQ(symmetric.packed, (std::vector<uint8_t>{0x80, 0xD8}));
  // (0 - 8) * -65504 = 524032 and (13 - 8) * -65504 = -327520.
  EXPECT_EQ(dequantize_blockwise_int4(symmetric), (std::vector<float>{524032.0f, 0.0f, 0.0f, -327520.0f}));

  // Asymmetric: 1.3e6 / 15 is clamped to 65504 and the zero point is round(3e5 / 65504) = round(4.58) = 5.
  // Codes: 15.3 + 5 saturates to 15, 1 and 0 give 5, and -4.58 rounds to -5 (code 0).
  const auto asymmetric = quantize_blockwise_int4(weight, 4, 1, 4, false, ScaleType::kFloat16);
  EXPECT_EQ(asymmetric.scales[0], 65504.0f);
  EXPECT_EQ(asymmetric.zero_points, (std::vector<uint8_t>{0x05}));
  EXPECT_EQ(asymmetric.packed, (std::vector<uint8_t>{0x5F, 0x05}));
  // (15 - 5) * 65504 = 655040 and (0 - 5) * 65504 = -327520.
  EXPECT_EQ(dequantize_blockwise_int4(asymmetric), (std::vector<float>{655040.0f, 0.0f, 0.0f, -327520.0f}));
}

struct Shape {
  int64_t k;
  int64_t n;
  int64_t block_size;
};

// Odd K and N, a tail block in most shapes, and the N = 1 and K = 1 edges.
const std::vector<Shape> kRandomShapes{{75, 7, 32}, {75, 7, 16}, {33, 1, 32}, {1, 1, 16}, {17, 3, 2}, {129, 5, 64}};

TEST(BlockInt4, DequantizeMatchesReference) {
  uint32_t seed = kRandomSeed;
  for (const Shape& shape : kRandomShapes) {
    const auto weight = random_weight(shape.k, shape.n, ++seed);
    for (bool symmetric : {true, false}) {
      for (ScaleType scale_type : {ScaleType::kFloat32, ScaleType::kFloat16}) {
        const auto q = quantize_blockwise_int4(weight, shape.k, shape.n, shape.block_size, symmetric, scale_type);
        const auto restored = dequantize_blockwise_int4(q);
        ASSERT_EQ(restored.size(), weight.size());
        for (int64_t row = 0; row < shape.k; ++row) {
          for (int64_t column = 0; column < shape.n; ++column) {
            EXPECT_EQ(restored[row * shape.n + column], reference_dequantize(q, symmetric, row, column))
                << "K " << shape.k << " N " << shape.n << " row " << row << " column " << column << " symmetric "
                << symmetric << " float16 " << (scale_type == ScaleType::kFloat16);
          }
        }
      }
    }
  }
}

TEST(BlockInt4, RandomErrorWithinStep) {
  // Asymmetric codes are off by at most half a step. Symmetric codes also, except values near -m,
  // which saturate at code 15 and can be off by up to one step.
  uint32_t seed = kRandomSeed;
  for (const Shape& shape : kRandomShapes) {
    const auto weight = random_weight(shape.k, shape.n, ++seed);
    for (bool symmetric : {true, false}) {
      const auto q =
          quantize_blockwise_int4(weight, shape.k, shape.n, shape.block_size, symmetric, ScaleType::kFloat32);
      const auto restored = dequantize_blockwise_int4(q);
      const float steps = symmetric ? 1.0f : 0.5f;
      for (int64_t row = 0; row < shape.k; ++row) {
        for (int64_t column = 0; column < shape.n; ++column) {
          const float scale = std::fabs(q.scales[column * q.blocks_per_column + row / shape.block_size]);
          const float error = std::fabs(restored[row * shape.n + column] - weight[row * shape.n + column]);
          EXPECT_LE(error, scale * (steps + kRoundingSlack))
              << "K " << shape.k << " row " << row << " column " << column << " symmetric " << symmetric;
        }
      }
    }
  }
}

}  // namespace
}  // namespace onnxquant::kernels
