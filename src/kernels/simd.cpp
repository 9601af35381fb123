#include "kernels/simd.hpp"

#include <algorithm>
#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace onnxquant::kernels {
namespace {

// -1 while no level is forced.
std::atomic<int> forced_level{-1};

}  // namespace

const char* to_string(SimdLevel level) {
  switch (level) {
    case SimdLevel::kPortable: return "portable";
    case SimdLevel::kAvx2: return "avx2";
  }
  return "unknown";
}

SimdLevel detected_simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports("avx2") also checks that the operating system saves the AVX registers.
  // Clang 14 does not know the "f16c" feature name, so F16C comes from CPUID leaf 1 directly.
  static const bool has_avx2_and_f16c = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool has_f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
    return has_f16c && __builtin_cpu_supports("avx2");
  }();
  if (has_avx2_and_f16c && simd::avx2_primitives() != nullptr) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kPortable;
}

SimdLevel simd_level() {
  const int forced = forced_level.load(std::memory_order_relaxed);
  if (forced < 0) return detected_simd_level();
  return std::min(static_cast<SimdLevel>(forced), detected_simd_level());
}

ScopedSimdLevel::ScopedSimdLevel(SimdLevel level)
    : previous_forced_(forced_level.exchange(static_cast<int>(level), std::memory_order_relaxed)) {}

ScopedSimdLevel::~ScopedSimdLevel() { forced_level.store(previous_forced_, std::memory_order_relaxed); }

namespace simd {

const Primitives& primitives() {
  if (simd_level() == SimdLevel::kAvx2) return *avx2_primitives();
  return portable_primitives();
}

}  // namespace simd
}  // namespace onnxquant::kernels
