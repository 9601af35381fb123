// The AVX2 and F16C primitives. Every function that uses them carries ONNXQUANT_AVX2, so this file
// builds for baseline x86-64 and simd.cpp calls into it only on CPUs that have both extensions.
// Each primitive performs the operations of its portable version in simd_portable.cpp: the same
// float division and round-half-to-even, the same clamps, and double sums in the same order per
// lane, with no fused multiply-add. Tails shorter than a vector run through the portable versions.
#include "kernels/simd.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/float16.hpp"
#include "kernels/scale_search_steps.hpp"

#define ONNXQUANT_AVX2 __attribute__((target("avx2,f16c")))

namespace onnxquant::kernels::simd {
namespace {

constexpr int64_t kWidth = 8;

ONNXQUANT_AVX2 inline __m256 abs_ps(__m256 x) {
  return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

// All ones in the lanes whose value is finite.
ONNXQUANT_AVX2 inline __m256 finite_mask(__m256 x) {
  return _mm256_cmp_ps(abs_ps(x), _mm256_set1_ps(INFINITY), _CMP_LT_OQ);
}

ONNXQUANT_AVX2 inline __m256d low_pd(__m256 x) { return _mm256_cvtps_pd(_mm256_castps256_ps128(x)); }
ONNXQUANT_AVX2 inline __m256d high_pd(__m256 x) { return _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)); }
ONNXQUANT_AVX2 inline __m256d low_pd(__m256i x) { return _mm256_cvtepi32_pd(_mm256_castsi256_si128(x)); }
ONNXQUANT_AVX2 inline __m256d high_pd(__m256i x) { return _mm256_cvtepi32_pd(_mm256_extracti128_si256(x, 1)); }

// A float lane mask widened to the double lanes of its low or high half.
ONNXQUANT_AVX2 inline __m256d low_mask(__m256 mask) {
  return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_castps_si128(_mm256_castps256_ps128(mask))));
}
ONNXQUANT_AVX2 inline __m256d high_mask(__m256 mask) {
  return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_castps_si128(_mm256_extractf128_ps(mask, 1))));
}

// Eight double sums, one per lane. Masked lanes add +0.0, which leaves any sum unchanged because a
// sum that starts at +0.0 never becomes -0.0.
struct LaneSum {
  __m256d low;
  __m256d high;
};

ONNXQUANT_AVX2 inline LaneSum zero_sum() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }

ONNXQUANT_AVX2 inline void add_masked(LaneSum& sum, __m256d low, __m256d high, __m256 mask) {
  sum.low = _mm256_add_pd(sum.low, _mm256_and_pd(low, low_mask(mask)));
  sum.high = _mm256_add_pd(sum.high, _mm256_and_pd(high, high_mask(mask)));
}

ONNXQUANT_AVX2 inline void store_sum(const LaneSum& sum, double* output) {
  _mm256_storeu_pd(output, sum.low);
  _mm256_storeu_pd(output + 4, sum.high);
}

// quantize_to_code without its NaN case: saturate(round_half_to_even(x / scale) + zero_point).
struct Quantizer {
  __m256 scale;
  __m256 zero_point_float;
  __m256i zero_point;
  __m256 low;
  __m256 high;
};

ONNXQUANT_AVX2 inline Quantizer make_quantizer(__m256 scale, __m256i zero_point, int32_t code_min, int32_t code_max) {
  return {scale, _mm256_cvtepi32_ps(zero_point), zero_point, _mm256_set1_ps(static_cast<float>(code_min)),
          _mm256_set1_ps(static_cast<float>(code_max))};
}

ONNXQUANT_AVX2 inline Quantizer lane_quantizer(const LaneChoices& choices, CodeRange range) {
  const __m256i zero_point = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(choices.zero_point));
  return make_quantizer(_mm256_loadu_ps(choices.scale), zero_point, range.min, range.max);
}

ONNXQUANT_AVX2 inline __m256i quantize(__m256 x, const Quantizer& quantizer) {
  const __m256 rounded =
      _mm256_round_ps(_mm256_div_ps(x, quantizer.scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 shifted = _mm256_add_ps(rounded, quantizer.zero_point_float);
  // max(low, v) then min(high, v) keeps v when it is NaN, as std::clamp does.
  const __m256 clamped = _mm256_min_ps(quantizer.high, _mm256_max_ps(quantizer.low, shifted));
  return _mm256_cvttps_epi32(clamped);
}

// The low bytes of eight 32-bit codes, stored to eight consecutive bytes.
ONNXQUANT_AVX2 inline void store_low_bytes(__m256i codes, uint8_t* output) {
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i bytes = _mm256_shuffle_epi8(codes, pick);
  const __m128i joined = _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(output), joined);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 inline __m256 load_lanes(const LaneValues& values, int64_t j) {
  const float* row = values.data + j * values.row_stride;
  if constexpr (kBroadcast) {
    return _mm256_set1_ps(*row);
  } else {
    return _mm256_loadu_ps(row);
  }
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_range_of(const LaneValues& values, float* min, float* max) {
  __m256 low = _mm256_setzero_ps();
  __m256 high = _mm256_setzero_ps();
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    // Non-finite values become +0.0, which changes neither bound: both start at +0.0.
    const __m256 finite = _mm256_and_ps(x, finite_mask(x));
    low = _mm256_min_ps(finite, low);
    high = _mm256_max_ps(finite, high);
  }
  _mm256_storeu_ps(min, low);
  _mm256_storeu_ps(max, high);
}

ONNXQUANT_AVX2 void lane_range(const LaneValues& values, float* min, float* max) {
  values.broadcast ? lane_range_of<true>(values, min, max) : lane_range_of<false>(values, min, max);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_largest_magnitude_of(const LaneValues& values, float* largest) {
  __m256 best = _mm256_setzero_ps();
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    const __m256 magnitude = abs_ps(x);
    const __m256 larger = _mm256_cmp_ps(magnitude, abs_ps(best), _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, x, _mm256_and_ps(larger, finite_mask(x)));
  }
  _mm256_storeu_ps(largest, best);
}

ONNXQUANT_AVX2 void lane_largest_magnitude(const LaneValues& values, float* largest) {
  values.broadcast ? lane_largest_magnitude_of<true>(values, largest)
                   : lane_largest_magnitude_of<false>(values, largest);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_fixed_fit_sums_of(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                           double* numerator, double* denominator) {
  const Quantizer quantizer = lane_quantizer(choices, range);
  LaneSum numerator_sum = zero_sum();
  LaneSum denominator_sum = zero_sum();
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    const __m256 finite = finite_mask(x);
    const __m256i q = _mm256_sub_epi32(quantize(x, quantizer), quantizer.zero_point);
    const __m256d q_low = low_pd(q);
    const __m256d q_high = high_pd(q);
    add_masked(numerator_sum, _mm256_mul_pd(low_pd(x), q_low), _mm256_mul_pd(high_pd(x), q_high), finite);
    add_masked(denominator_sum, _mm256_mul_pd(q_low, q_low), _mm256_mul_pd(q_high, q_high), finite);
  }
  store_sum(numerator_sum, numerator);
  store_sum(denominator_sum, denominator);
}

ONNXQUANT_AVX2 void lane_fixed_fit_sums(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                        double* numerator, double* denominator) {
  values.broadcast ? lane_fixed_fit_sums_of<true>(values, choices, range, numerator, denominator)
                   : lane_fixed_fit_sums_of<false>(values, choices, range, numerator, denominator);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_affine_fit_sums_of(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                            LaneAffineSums& sums) {
  const Quantizer quantizer = lane_quantizer(choices, range);
  const __m256d one = _mm256_set1_pd(1.0);
  LaneSum n = zero_sum();
  LaneSum sum_q = zero_sum();
  LaneSum sum_x = zero_sum();
  LaneSum sum_qq = zero_sum();
  LaneSum sum_qx = zero_sum();
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    const __m256 finite = finite_mask(x);
    const __m256i q = quantize(x, quantizer);
    const __m256d q_low = low_pd(q);
    const __m256d q_high = high_pd(q);
    const __m256d x_low = low_pd(x);
    const __m256d x_high = high_pd(x);
    add_masked(n, one, one, finite);
    add_masked(sum_q, q_low, q_high, finite);
    add_masked(sum_x, x_low, x_high, finite);
    add_masked(sum_qq, _mm256_mul_pd(q_low, q_low), _mm256_mul_pd(q_high, q_high), finite);
    add_masked(sum_qx, _mm256_mul_pd(q_low, x_low), _mm256_mul_pd(q_high, x_high), finite);
  }
  store_sum(n, sums.n);
  store_sum(sum_q, sums.sum_q);
  store_sum(sum_x, sums.sum_x);
  store_sum(sum_qq, sums.sum_qq);
  store_sum(sum_qx, sums.sum_qx);
}

ONNXQUANT_AVX2 void lane_affine_fit_sums(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                         LaneAffineSums& sums) {
  values.broadcast ? lane_affine_fit_sums_of<true>(values, choices, range, sums)
                   : lane_affine_fit_sums_of<false>(values, choices, range, sums);
}

// Adds eight float lane sums to eight double sums.
ONNXQUANT_AVX2 inline void add_to_doubles(double* total, __m256 part) {
  _mm256_storeu_pd(total, _mm256_add_pd(_mm256_loadu_pd(total), low_pd(part)));
  _mm256_storeu_pd(total + 4, _mm256_add_pd(_mm256_loadu_pd(total + 4), high_pd(part)));
}

// The ranking sums of kGroup candidates from `first` over one chunk of `rows` finite values
// (`chunk`, kStride floats a row: one value broadcast to every lane, or one per lane).
template <int kGroup, int kStride>
ONNXQUANT_AVX2 void rank_group(const float* chunk, int64_t rows, const LaneRankCandidates& candidates, int first,
                               LaneRankSums* sums) {
  __m256 sum_q[kGroup];
  __m256 sum_qq[kGroup];
  __m256 sum_qx[kGroup];
  for (int g = 0; g < kGroup; ++g) {
    sum_q[g] = _mm256_setzero_ps();
    sum_qq[g] = _mm256_setzero_ps();
    sum_qx[g] = _mm256_setzero_ps();
  }
  const int64_t offset = static_cast<int64_t>(first) * kLanes;
  for (int64_t j = 0; j < rows; ++j) {
    const __m256 x = kStride == 1 ? _mm256_broadcast_ss(chunk + j) : _mm256_load_ps(chunk + j * kStride);
    for (int g = 0; g < kGroup; ++g) {
      const int64_t at = offset + g * kLanes;
      const __m256 scaled = _mm256_mul_ps(x, _mm256_loadu_ps(candidates.inverse + at));
      const __m256 rounded = _mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256 q = _mm256_min_ps(_mm256_loadu_ps(candidates.high + at),
                                     _mm256_max_ps(_mm256_loadu_ps(candidates.low + at), rounded));
      sum_q[g] = _mm256_add_ps(sum_q[g], q);
      sum_qq[g] = _mm256_add_ps(sum_qq[g], _mm256_mul_ps(q, q));
      sum_qx[g] = _mm256_add_ps(sum_qx[g], _mm256_mul_ps(q, x));
    }
  }
  for (int g = 0; g < kGroup; ++g) {
    LaneRankSums& total = sums[first + g];
    add_to_doubles(total.sum_q, sum_q[g]);
    add_to_doubles(total.sum_qq, sum_qq[g]);
    add_to_doubles(total.sum_qx, sum_qx[g]);
  }
}

// Non-finite values become +0.0 in the chunk: with a finite inverse their codes are +-0.0, which
// leave every sum as skipping them would.
template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_rank_sums_of(const LaneValues& values, const LaneRankCandidates& candidates,
                                      LaneRankSums* sums, double* n, double* sum_x) {
  constexpr int kStride = kBroadcast ? 1 : kLanes;
  constexpr int kGroup = 4;
  alignas(32) float chunk[search_steps::kRankChunk * kStride];
  std::fill_n(n, kLanes, 0.0);
  std::fill_n(sum_x, kLanes, 0.0);
  std::fill_n(sums, candidates.count, LaneRankSums{});
  for (int64_t start = 0; start < values.count; start += search_steps::kRankChunk) {
    const int64_t rows = std::min(search_steps::kRankChunk, values.count - start);
    __m256 chunk_n = _mm256_setzero_ps();
    __m256 chunk_x = _mm256_setzero_ps();
    for (int64_t j = 0; j < rows; ++j) {
      const __m256 x = load_lanes<kBroadcast>(values, start + j);
      const __m256 finite = finite_mask(x);
      const __m256 kept = _mm256_and_ps(x, finite);
      chunk_n = _mm256_add_ps(chunk_n, _mm256_and_ps(_mm256_set1_ps(1.0f), finite));
      chunk_x = _mm256_add_ps(chunk_x, kept);
      if constexpr (kBroadcast) {
        chunk[j] = _mm256_cvtss_f32(kept);
      } else {
        _mm256_store_ps(chunk + j * kLanes, kept);
      }
    }
    add_to_doubles(n, chunk_n);
    add_to_doubles(sum_x, chunk_x);
    int first = 0;
    for (; first + kGroup <= candidates.count; first += kGroup) {
      rank_group<kGroup, kStride>(chunk, rows, candidates, first, sums);
    }
    for (; first < candidates.count; ++first) rank_group<1, kStride>(chunk, rows, candidates, first, sums);
  }
}

ONNXQUANT_AVX2 void lane_rank_sums(const LaneValues& values, const LaneRankCandidates& candidates,
                                   LaneRankSums* sums, double* n, double* sum_x) {
  values.broadcast ? lane_rank_sums_of<true>(values, candidates, sums, n, sum_x)
                   : lane_rank_sums_of<false>(values, candidates, sums, n, sum_x);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_squared_error_of(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                          double* error) {
  const Quantizer quantizer = lane_quantizer(choices, range);
  const __m256d scale_low = low_pd(quantizer.scale);
  const __m256d scale_high = high_pd(quantizer.scale);
  LaneSum sum = zero_sum();
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    const __m256i q = _mm256_sub_epi32(quantize(x, quantizer), quantizer.zero_point);
    const __m256d difference_low = _mm256_sub_pd(low_pd(x), _mm256_mul_pd(low_pd(q), scale_low));
    const __m256d difference_high = _mm256_sub_pd(high_pd(x), _mm256_mul_pd(high_pd(q), scale_high));
    add_masked(sum, _mm256_mul_pd(difference_low, difference_low), _mm256_mul_pd(difference_high, difference_high),
               finite_mask(x));
  }
  store_sum(sum, error);
}

ONNXQUANT_AVX2 void lane_squared_error(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                       double* error) {
  values.broadcast ? lane_squared_error_of<true>(values, choices, range, error)
                   : lane_squared_error_of<false>(values, choices, range, error);
}

// The terms of ErrorSums per lane, in double.
struct ErrorTerms {
  LaneSum signal;
  LaneSum noise;
  LaneSum dot;
  LaneSum norm;
  LaneSum largest;
};

ONNXQUANT_AVX2 inline ErrorTerms zero_error_terms() {
  return {zero_sum(), zero_sum(), zero_sum(), zero_sum(), zero_sum()};
}

// Adds the terms of original values x and their reconstructions y.
ONNXQUANT_AVX2 inline void add_error_terms(ErrorTerms& terms, __m256 x, __m256 y) {
  const __m256d magnitude_bits = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
  const __m256d x_low = low_pd(x);
  const __m256d x_high = high_pd(x);
  const __m256d y_low = low_pd(y);
  const __m256d y_high = high_pd(y);
  const __m256d error_low = _mm256_sub_pd(x_low, y_low);
  const __m256d error_high = _mm256_sub_pd(x_high, y_high);
  terms.signal.low = _mm256_add_pd(terms.signal.low, _mm256_mul_pd(x_low, x_low));
  terms.signal.high = _mm256_add_pd(terms.signal.high, _mm256_mul_pd(x_high, x_high));
  terms.noise.low = _mm256_add_pd(terms.noise.low, _mm256_mul_pd(error_low, error_low));
  terms.noise.high = _mm256_add_pd(terms.noise.high, _mm256_mul_pd(error_high, error_high));
  terms.dot.low = _mm256_add_pd(terms.dot.low, _mm256_mul_pd(x_low, y_low));
  terms.dot.high = _mm256_add_pd(terms.dot.high, _mm256_mul_pd(x_high, y_high));
  terms.norm.low = _mm256_add_pd(terms.norm.low, _mm256_mul_pd(y_low, y_low));
  terms.norm.high = _mm256_add_pd(terms.norm.high, _mm256_mul_pd(y_high, y_high));
  // max(|e|, max) keeps max when |e| is NaN, as std::max(max, |e|) does.
  terms.largest.low = _mm256_max_pd(_mm256_and_pd(error_low, magnitude_bits), terms.largest.low);
  terms.largest.high = _mm256_max_pd(_mm256_and_pd(error_high, magnitude_bits), terms.largest.high);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_error_sums_of(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                       LaneErrorSums& sums) {
  const Quantizer quantizer = lane_quantizer(choices, range);
  ErrorTerms terms = zero_error_terms();
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    const __m256 is_nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const __m256i code =
        _mm256_blendv_epi8(quantize(x, quantizer), quantizer.zero_point, _mm256_castps_si256(is_nan));
    add_error_terms(terms, x,
                    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(code, quantizer.zero_point)), quantizer.scale));
  }
  store_sum(terms.signal, sums.signal);
  store_sum(terms.noise, sums.noise);
  store_sum(terms.dot, sums.dot);
  store_sum(terms.norm, sums.reconstructed_norm);
  store_sum(terms.largest, sums.max_abs_error);
}

ONNXQUANT_AVX2 void lane_error_sums(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                    LaneErrorSums& sums) {
  values.broadcast ? lane_error_sums_of<true>(values, choices, range, sums)
                   : lane_error_sums_of<false>(values, choices, range, sums);
}

template <bool kBroadcast>
ONNXQUANT_AVX2 void lane_quantize_of(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                     uint8_t* codes) {
  const Quantizer quantizer = lane_quantizer(choices, range);
  for (int64_t j = 0; j < values.count; ++j) {
    const __m256 x = load_lanes<kBroadcast>(values, j);
    const __m256 is_nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const __m256i code =
        _mm256_blendv_epi8(quantize(x, quantizer), quantizer.zero_point, _mm256_castps_si256(is_nan));
    store_low_bytes(code, codes + j * kLanes);
  }
}

ONNXQUANT_AVX2 void lane_quantize(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                                  uint8_t* codes) {
  values.broadcast ? lane_quantize_of<true>(values, choices, range, codes)
                   : lane_quantize_of<false>(values, choices, range, codes);
}

ONNXQUANT_AVX2 void range(const float* values, int64_t count, float& min, float& max) {
  __m256 low = _mm256_setzero_ps();
  __m256 high = _mm256_setzero_ps();
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    const __m256 x = _mm256_loadu_ps(values + i);
    const __m256 finite = _mm256_and_ps(x, finite_mask(x));
    low = _mm256_min_ps(finite, low);
    high = _mm256_max_ps(finite, high);
  }
  portable_primitives().range(values + vector_end, count - vector_end, min, max);
  float lane_min[kWidth];
  float lane_max[kWidth];
  _mm256_storeu_ps(lane_min, low);
  _mm256_storeu_ps(lane_max, high);
  for (int64_t lane = 0; lane < kWidth; ++lane) {
    min = std::min(min, lane_min[lane]);
    max = std::max(max, lane_max[lane]);
  }
}

ONNXQUANT_AVX2 ErrorSums error_sums(const float* original, const float* reconstructed, int64_t count) {
  ErrorTerms terms = zero_error_terms();
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    add_error_terms(terms, _mm256_loadu_ps(original + i), _mm256_loadu_ps(reconstructed + i));
  }

  double lanes[5][kLanes];
  store_sum(terms.signal, lanes[0]);
  store_sum(terms.noise, lanes[1]);
  store_sum(terms.dot, lanes[2]);
  store_sum(terms.norm, lanes[3]);
  store_sum(terms.largest, lanes[4]);
  ErrorSums sums[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    sums[lane] = {lanes[0][lane], lanes[1][lane], lanes[2][lane], lanes[3][lane], lanes[4][lane]};
  }
  return finish_error_sums(sums, original, reconstructed, vector_end, count);
}

ONNXQUANT_AVX2 inline __m256d relative_error_pd(__m256d x, __m256d y) {
  const __m256d magnitude_bits = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
  return _mm256_div_pd(_mm256_and_pd(_mm256_sub_pd(x, y), magnitude_bits), _mm256_and_pd(x, magnitude_bits));
}

ONNXQUANT_AVX2 double max_relative_error(const float* original, const float* reconstructed, int64_t count,
                                         int64_t& nonfinite) {
  const __m256 ones = _mm256_set1_ps(1.0f);
  __m256d largest_low = _mm256_setzero_pd();
  __m256d largest_high = _mm256_setzero_pd();
  int64_t nonfinite_count = 0;
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    const __m256 x = _mm256_loadu_ps(original + i);
    const __m256 finite = finite_mask(x);
    nonfinite_count += kWidth - __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(finite)));
    // Other lanes divide 1 by 1, which adds nothing to the maximum.
    const __m256 used = _mm256_and_ps(finite, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NEQ_OQ));
    const __m256 used_x = _mm256_blendv_ps(ones, x, used);
    const __m256 used_y = _mm256_blendv_ps(ones, _mm256_loadu_ps(reconstructed + i), used);
    // max(q, largest) keeps largest when q is NaN, as std::max(largest, q) does.
    largest_low = _mm256_max_pd(relative_error_pd(low_pd(used_x), low_pd(used_y)), largest_low);
    largest_high = _mm256_max_pd(relative_error_pd(high_pd(used_x), high_pd(used_y)), largest_high);
  }
  int64_t tail_nonfinite = 0;
  double largest = portable_primitives().max_relative_error(original + vector_end, reconstructed + vector_end,
                                                            count - vector_end, tail_nonfinite);
  double lanes[2 * 4];
  _mm256_storeu_pd(lanes, largest_low);
  _mm256_storeu_pd(lanes + 4, largest_high);
  for (double lane : lanes) largest = std::max(largest, lane);
  nonfinite = nonfinite_count + tail_nonfinite;
  return largest;
}

ONNXQUANT_AVX2 void quantize_run(const float* values, int64_t count, const float* scales, const int32_t* zero_points,
                                 bool per_element, int32_t code_min, int32_t code_max, uint8_t* output) {
  const __m256i low = _mm256_set1_epi32(code_min);
  const __m256i high = _mm256_set1_epi32(code_max);
  Quantizer quantizer = make_quantizer(_mm256_set1_ps(scales[0]), _mm256_set1_epi32(zero_points[0]), code_min,
                                       code_max);
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    if (per_element) {
      const __m256i zero_point = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(zero_points + i));
      quantizer = make_quantizer(_mm256_loadu_ps(scales + i), zero_point, code_min, code_max);
    }
    const __m256 x = _mm256_loadu_ps(values + i);
    // NaN takes the zero point clamped to the code range.
    const __m256i nan_code = _mm256_min_epi32(high, _mm256_max_epi32(low, quantizer.zero_point));
    const __m256 is_nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    store_low_bytes(_mm256_blendv_epi8(quantize(x, quantizer), nan_code, _mm256_castps_si256(is_nan)), output + i);
  }
  const int64_t offset = per_element ? vector_end : 0;
  portable_primitives().quantize_run(values + vector_end, count - vector_end, scales + offset, zero_points + offset,
                                     per_element, code_min, code_max, output + vector_end);
}

ONNXQUANT_AVX2 void dequantize_run(const int32_t* codes, int64_t count, const float* scales,
                                   const int32_t* zero_points, bool per_element, float* output) {
  __m256 scale = _mm256_set1_ps(scales[0]);
  __m256i zero_point = _mm256_set1_epi32(zero_points[0]);
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    if (per_element) {
      scale = _mm256_loadu_ps(scales + i);
      zero_point = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(zero_points + i));
    }
    const __m256i code = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i));
    _mm256_storeu_ps(output + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(code, zero_point)), scale));
  }
  const int64_t offset = per_element ? vector_end : 0;
  portable_primitives().dequantize_run(codes + vector_end, count - vector_end, scales + offset, zero_points + offset,
                                       per_element, output + vector_end);
}

ONNXQUANT_AVX2 void widen_bytes(const uint8_t* bytes, int64_t count, bool is_signed, int32_t* output) {
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    const __m128i eight = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + i));
    const __m256i wide = is_signed ? _mm256_cvtepi8_epi32(eight) : _mm256_cvtepu8_epi32(eight);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(output + i), wide);
  }
  portable_primitives().widen_bytes(bytes + vector_end, count - vector_end, is_signed, output + vector_end);
}

ONNXQUANT_AVX2 void pack_4bit(const int8_t* codes, int64_t pairs, uint8_t* output) {
  // Each 16-bit lane contains one pair: the even code in its low byte and the odd code in its high byte.
  const __m256i low_nibble = _mm256_set1_epi16(0x000f);
  const __m256i high_nibble = _mm256_set1_epi16(0x00f0);
  constexpr int64_t kPairs = 16;
  const int64_t vector_end = pairs - pairs % kPairs;
  for (int64_t i = 0; i < vector_end; i += kPairs) {
    const __m256i pair = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 2 * i));
    const __m256i packed = _mm256_or_si256(_mm256_and_si256(pair, low_nibble),
                                           _mm256_and_si256(_mm256_srli_epi16(pair, 4), high_nibble));
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(packed), _mm256_extracti128_si256(packed, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(output + i), bytes);
  }
  portable_primitives().pack_4bit(codes + 2 * vector_end, pairs - vector_end, output + vector_end);
}

// Replaces the finite values beyond `limit` in magnitude by `limit` with their sign, and counts them.
ONNXQUANT_AVX2 inline __m256 saturate(__m256 x, float limit, uint64_t& saturated) {
  const __m256 magnitude = abs_ps(x);
  const __m256 beyond = _mm256_and_ps(_mm256_cmp_ps(magnitude, _mm256_set1_ps(limit), _CMP_GT_OQ),
                                      _mm256_cmp_ps(magnitude, _mm256_set1_ps(INFINITY), _CMP_LT_OQ));
  saturated += static_cast<uint64_t>(__builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(beyond))));
  const __m256 sign = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), x);
  return _mm256_blendv_ps(x, _mm256_or_ps(sign, _mm256_set1_ps(limit)), beyond);
}

ONNXQUANT_AVX2 uint64_t float_to_half(const float* values, int64_t count, bool saturate_values, uint16_t* output) {
  uint64_t saturated = 0;
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    __m256 x = _mm256_loadu_ps(values + i);
    if (saturate_values) x = saturate(x, 65504.0f, saturated);
    // F16C rounds to nearest even, keeps subnormals and quiets NaN as float_to_half does.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(output + i), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
  }
  return saturated + portable_primitives().float_to_half(values + vector_end, count - vector_end, saturate_values,
                                                         output + vector_end);
}

ONNXQUANT_AVX2 void half_to_float(const uint16_t* bits, int64_t count, float* output) {
  const int64_t vector_end = count - count % kWidth;
  const __m256i exponent_bits = _mm256_set1_epi32(0x7c00);
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bits + i));
    const __m256 converted = _mm256_cvtph_ps(half);
    // F16C quiets signaling NaN; half_to_float keeps the payload as it is, so infinities and NaN
    // take the bit pattern computed directly.
    const __m256i wide = _mm256_cvtepu16_epi32(half);
    const __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(wide, exponent_bits), exponent_bits);
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x8000)), 16);
    const __m256i payload = _mm256_slli_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x3ff)), 13);
    const __m256i direct = _mm256_or_si256(_mm256_or_si256(sign, _mm256_set1_epi32(0x7f800000)), payload);
    _mm256_storeu_ps(output + i,
                     _mm256_blendv_ps(converted, _mm256_castsi256_ps(direct), _mm256_castsi256_ps(special)));
  }
  portable_primitives().half_to_float(bits + vector_end, count - vector_end, output + vector_end);
}

ONNXQUANT_AVX2 uint64_t float_to_bfloat16(const float* values, int64_t count, bool saturate_values,
                                          uint16_t* output) {
  uint64_t saturated = 0;
  const float limit = bfloat16_to_float(kBfloat16MaxBits);
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    __m256 x = _mm256_loadu_ps(values + i);
    if (saturate_values) x = saturate(x, limit, saturated);
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i upper = _mm256_srli_epi32(bits, 16);
    const __m256i is_nan =
        _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    const __m256i quiet_nan = _mm256_or_si256(upper, _mm256_set1_epi32(0x0040));
    // Round to nearest even: add 0x7fff plus the lowest kept bit, then drop the low half.
    const __m256i rounding = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(upper, _mm256_set1_epi32(1)));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, rounding), 16);
    const __m256i result = _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(result), _mm256_extracti128_si256(result, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(output + i), packed);
  }
  return saturated + portable_primitives().float_to_bfloat16(values + vector_end, count - vector_end,
                                                             saturate_values, output + vector_end);
}

ONNXQUANT_AVX2 void bfloat16_to_float(const uint16_t* bits, int64_t count, float* output) {
  const int64_t vector_end = count - count % kWidth;
  for (int64_t i = 0; i < vector_end; i += kWidth) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bits + i));
    const __m256i wide = _mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16);
    _mm256_storeu_ps(output + i, _mm256_castsi256_ps(wide));
  }
  portable_primitives().bfloat16_to_float(bits + vector_end, count - vector_end, output + vector_end);
}

constexpr Primitives kAvx2 = {
    .lane_range = lane_range,
    .lane_largest_magnitude = lane_largest_magnitude,
    .lane_fixed_fit_sums = lane_fixed_fit_sums,
    .lane_affine_fit_sums = lane_affine_fit_sums,
    .lane_rank_sums = lane_rank_sums,
    .lane_squared_error = lane_squared_error,
    .lane_error_sums = lane_error_sums,
    .lane_quantize = lane_quantize,
    .range = range,
    .error_sums = error_sums,
    .max_relative_error = max_relative_error,
    .quantize_run = quantize_run,
    .dequantize_run = dequantize_run,
    .widen_bytes = widen_bytes,
    .pack_4bit = pack_4bit,
    .float_to_half = float_to_half,
    .half_to_float = half_to_float,
    .float_to_bfloat16 = float_to_bfloat16,
    .bfloat16_to_float = bfloat16_to_float,
};

}  // namespace

const Primitives* avx2_primitives() { return &kAvx2; }

}  // namespace onnxquant::kernels::simd

#else

namespace onnxquant::kernels::simd {

const Primitives* avx2_primitives() { return nullptr; }

}  // namespace onnxquant::kernels::simd

#endif
