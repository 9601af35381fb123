#include "eval/vector_math.hpp"

#include <immintrin.h>

#include <cmath>

#include "eval/gemm_avx2.hpp"

namespace onnxquant::eval {
namespace {

// exp(x) = 2^n * exp(r) with n = round(x / ln 2) and r = x - n ln 2 in [-ln 2 / 2, ln 2 / 2]. ln 2
// is split into a part exact in float32 and a small remainder (Cody and Waite), and exp(r) is
// 1 + r + r^2 * p(r) with the degree-5 coefficients of Cephes' expf by Stephen L. Moshier.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kExpMax = 88.3762626647949f;
constexpr float kExpMin = -88.3762626647949f;
constexpr float kP0 = 1.9875691500e-4f;
constexpr float kP1 = 1.3981999507e-3f;
constexpr float kP2 = 8.3334519073e-3f;
constexpr float kP3 = 4.1665795894e-2f;
constexpr float kP4 = 1.6666665459e-1f;
constexpr float kP5 = 5.0000001201e-1f;

__attribute__((target("avx2,fma"))) __m256 exp8(__m256 x) {
  // NaN stays NaN: min and max return their second operand when either is NaN.
  x = _mm256_min_ps(_mm256_set1_ps(kExpMax), x);
  x = _mm256_max_ps(_mm256_set1_ps(kExpMin), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  const __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n built in the exponent field; n is within [-127, 127] after the clamp above.
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

__attribute__((target("avx2,fma"))) void exp_avx2(const float* in, float* out, int64_t count) {
  const __m256 low = _mm256_set1_ps(kExpMin);
  const __m256 high = _mm256_set1_ps(kExpMax);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 x = _mm256_loadu_ps(in + i);
    // Lanes outside the clamp range (overflow to infinity, underflow to subnormals) take std::exp.
    const __m256 outside = _mm256_or_ps(_mm256_cmp_ps(x, low, _CMP_LT_OQ), _mm256_cmp_ps(x, high, _CMP_GT_OQ));
    if (_mm256_movemask_ps(outside) != 0) {
      for (int64_t j = i; j < i + 8; ++j) out[j] = std::exp(in[j]);
      continue;
    }
    _mm256_storeu_ps(out + i, exp8(x));
  }
  for (; i < count; ++i) out[i] = std::exp(in[i]);
}

__attribute__((target("avx2,fma"))) void sigmoid_avx2(const float* in, float* out, int64_t count) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_loadu_ps(in + i)));
    _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  for (; i < count; ++i) out[i] = 1.0f / (1.0f + std::exp(-in[i]));
}

}  // namespace

void exp_floats(const float* in, float* out, int64_t count) {
  if (avx2_gemm_available()) {
    exp_avx2(in, out, count);
    return;
  }
  for (int64_t i = 0; i < count; ++i) out[i] = std::exp(in[i]);
}

void sigmoid_floats(const float* in, float* out, int64_t count) {
  if (avx2_gemm_available()) {
    sigmoid_avx2(in, out, count);
    return;
  }
  for (int64_t i = 0; i < count; ++i) out[i] = 1.0f / (1.0f + std::exp(-in[i]));
}

}  // namespace onnxquant::eval
