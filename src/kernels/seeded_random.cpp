#include "kernels/seeded_random.hpp"

#include <cassert>
#include <cmath>
#include <numbers>

namespace onnxquant::kernels {
namespace {

// The SplitMix64 finalizer: a bijection on 64-bit values that spreads every input bit over the output.
uint64_t mix64(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

}  // namespace

uint64_t derive_seed(uint64_t seed, uint64_t first_index, uint64_t second_index) {
  return mix64(mix64(mix64(seed) ^ first_index) ^ second_index);
}

double SeededRandom::uniform() {
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;
  return static_cast<double>(engine_() >> 11) * kTwoToMinus53;
}

uint64_t SeededRandom::uniform_index(uint64_t count) {
  assert(count > 0);
  // Values at or above `limit` would make the low residues more likely, so they are drawn again.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % count;
  uint64_t value = engine_();
  while (value >= limit) value = engine_();
  return value % count;
}

double SeededRandom::standard_normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  // 1 - uniform() is in (0, 1], so the logarithm is finite.
  const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform()));
  const double angle = 2.0 * std::numbers::pi * uniform();
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return radius * std::cos(angle);
}

}  // namespace onnxquant::kernels
