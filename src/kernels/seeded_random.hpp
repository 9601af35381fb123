// Random values that depend only on the seed: the same seed gives the same sequence with every
// compiler and standard library, because the engine (std::mt19937_64) is fully specified by the
// C++ standard and the distributions below are written out instead of taken from <random>.
#pragma once

#include <cstdint>
#include <random>

namespace onnxquant::kernels {

// Mixes a seed with two stream indexes (a sample and an input, say) into an independent seed, so
// that the values of one stream do not change when another stream is added.
uint64_t derive_seed(uint64_t seed, uint64_t first_index, uint64_t second_index);

class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1), with 53 random bits.
  double uniform();
  // Uniform in [0, count); count must be positive. Rejection sampling keeps every value equally likely.
  uint64_t uniform_index(uint64_t count);
  // Standard normal (mean 0, variance 1), by the Box-Muller transform.
  double standard_normal();

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace onnxquant::kernels
