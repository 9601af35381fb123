// Test data and helpers for comparing the fast kernels with their scalar references.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kernels/error_metrics.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels::testing {

// The thread counts every fast kernel is run with; the result must not depend on them.
inline const std::vector<int> kThreadCounts = {1, 2, 3, 8};

enum class Distribution {
  kNormal,     // N(0, 1)
  kHeavyTail,  // Cauchy: a few values thousands of times larger than the rest
  kSpecial,    // normal, with NaN, infinities, -0, subnormals and values near the float limit mixed in
};

inline const char* to_string(Distribution distribution) {
  switch (distribution) {
    case Distribution::kNormal: return "normal";
    case Distribution::kHeavyTail: return "heavy-tail";
    case Distribution::kSpecial: return "special";
  }
  return "unknown";
}

inline std::vector<float> random_values(size_t count, Distribution distribution, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::cauchy_distribution<float> cauchy(0.0f, 0.05f);
  const std::vector<float> special = {std::numeric_limits<float>::quiet_NaN(),
                                      std::numeric_limits<float>::infinity(),
                                      -std::numeric_limits<float>::infinity(),
                                      -0.0f,
                                      std::numeric_limits<float>::denorm_min(),
                                      -1.0e-40f,
                                      3.0e38f,
                                      -3.0e38f,
                                      65504.0f,
                                      65520.0f};
  std::uniform_int_distribution<size_t> pick(0, special.size() - 1);
  std::uniform_int_distribution<int> one_in_eight(0, 7);
  std::vector<float> values(count);
  for (float& value : values) {
    if (distribution == Distribution::kHeavyTail) {
      value = cauchy(generator);
    } else if (distribution == Distribution::kSpecial && one_in_eight(generator) == 0) {
      value = special[pick(generator)];
    } else {
      value = normal(generator);
    }
  }
  return values;
}

// The bit patterns of floats, so that comparisons are exact and NaN equals the same NaN.
inline std::vector<uint32_t> bits_of(std::span<const float> values) {
  std::vector<uint32_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = std::bit_cast<uint32_t>(values[i]);
  return bits;
}

// Expects every metric to have the same bits.
inline void expect_same_metrics(const ErrorMetrics& actual, const ErrorMetrics& expected) {
  EXPECT_EQ(std::bit_cast<uint64_t>(actual.mse), std::bit_cast<uint64_t>(expected.mse));
  EXPECT_EQ(std::bit_cast<uint64_t>(actual.max_abs_error), std::bit_cast<uint64_t>(expected.max_abs_error));
  EXPECT_EQ(std::bit_cast<uint64_t>(actual.sqnr_db), std::bit_cast<uint64_t>(expected.sqnr_db));
  EXPECT_EQ(std::bit_cast<uint64_t>(actual.cosine_similarity), std::bit_cast<uint64_t>(expected.cosine_similarity));
  EXPECT_EQ(std::bit_cast<uint64_t>(actual.signal_power), std::bit_cast<uint64_t>(expected.signal_power));
}

// The instruction sets to test: the portable primitives, and AVX2 where this CPU has it.
inline std::vector<SimdLevel> simd_levels() {
  std::vector<SimdLevel> levels = {SimdLevel::kPortable};
  if (detected_simd_level() == SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  return levels;
}

// Runs check(threads) for every instruction set and thread count, with a trace that names both.
template <typename Check>
void for_each_level_and_thread_count(Check check) {
  for (SimdLevel level : simd_levels()) {
    const ScopedSimdLevel forced(level);
    for (int threads : kThreadCounts) {
      SCOPED_TRACE(std::string("simd ") + kernels::to_string(level) + ", threads " + std::to_string(threads));
      check(threads);
    }
  }
}

}  // namespace onnxquant::kernels::testing
