// Vector primitives of the fast kernels and their run-time dispatch.
//
// The build targets the baseline instruction set of the compiler. The AVX2 primitives are compiled
// per function with a target attribute and chosen at run time when the CPU has AVX2 and F16C;
// otherwise the portable primitives run. Both versions compute every output with the same float
// and double operations in the same order, so they give the same bits on any CPU.
#pragma once

#include <cstdint>

#include "kernels/scale_search.hpp"

namespace onnxquant::kernels {

enum class SimdLevel { kPortable, kAvx2 };

const char* to_string(SimdLevel level);

// The best level this CPU supports: kAvx2 needs AVX2 and F16C (and an x86 build).
SimdLevel detected_simd_level();

// The level the fast kernels use: the level a ScopedSimdLevel forces, else the detected level.
SimdLevel simd_level();

// Forces the portable primitives (or any level up to the detected one) while the object lives, so
// tests and benchmarks can run both versions on one machine. Create it while no kernel runs.
class ScopedSimdLevel {
 public:
  explicit ScopedSimdLevel(SimdLevel level);
  ~ScopedSimdLevel();
  ScopedSimdLevel(const ScopedSimdLevel&) = delete;
  ScopedSimdLevel& operator=(const ScopedSimdLevel&) = delete;

 private:
  int previous_forced_;
};

namespace simd {

// Lane kernels work on up to kLanes blocks at once, one block per lane. Each lane computes exactly
// what the scalar reference computes for its block, in the same order, so a lane's result matches
// the reference bit for bit.
inline constexpr int kLanes = 8;

// The values of the blocks: value j of lane l is data[j * row_stride + l] (adjacent columns of a
// row-major matrix, or a buffer with row_stride kLanes). With `broadcast`, every lane reads the same
// block, data[j * row_stride], and the lanes differ only in their scales and zero points.
struct LaneValues {
  const float* data;
  int64_t count;
  int64_t row_stride;
  bool broadcast;
};

// One scale and zero point per lane.
struct LaneChoices {
  float scale[kLanes];
  int32_t zero_point[kLanes];
};

// The sums of the least-squares fit x ~ a * code + b, per lane.
struct LaneAffineSums {
  double n[kLanes];
  double sum_q[kLanes];
  double sum_x[kLanes];
  double sum_qq[kLanes];
  double sum_qx[kLanes];
};

// The candidates of the scale search's ranking pass (search_steps::RankCandidate), candidate c of
// lane l at index c * kLanes + l.
struct LaneRankCandidates {
  int count;
  const float* inverse;
  const float* low;
  const float* high;
};

// The ranking sums of one candidate, per lane.
struct LaneRankSums {
  double sum_q[kLanes];
  double sum_qq[kLanes];
  double sum_qx[kLanes];
};

// The sums behind the error metrics of one run of values.
struct ErrorSums {
  double signal = 0.0;              // sum x^2
  double noise = 0.0;               // sum (x - y)^2
  double dot = 0.0;                 // sum x * y
  double reconstructed_norm = 0.0;  // sum y^2
  double max_abs_error = 0.0;
};

// Adds the sums of `part` to `total` and keeps the larger max_abs_error.
void accumulate(ErrorSums& total, const ErrorSums& part);

// The ErrorSums of each lane.
struct LaneErrorSums {
  double signal[kLanes];
  double noise[kLanes];
  double dot[kLanes];
  double reconstructed_norm[kLanes];
  double max_abs_error[kLanes];

  ErrorSums lane(int index) const {
    return {signal[index], noise[index], dot[index], reconstructed_norm[index], max_abs_error[index]};
  }
};

struct Primitives {
  // Per lane: the min and max of the finite values, widened to include 0.
  void (*lane_range)(const LaneValues& values, float* min, float* max);
  // Per lane: the first finite value of largest magnitude, or 0.
  void (*lane_largest_magnitude)(const LaneValues& values, float* largest);
  // Per lane, over finite values with q = code - zero_point: sum x * q and sum q * q.
  void (*lane_fixed_fit_sums)(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                              double* numerator, double* denominator);
  // Per lane, over finite values with q = code: count, sum q, sum x, sum q^2 and sum q * x.
  void (*lane_affine_fit_sums)(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                               LaneAffineSums& sums);
  // Per candidate and lane: the ranking sums of the lane's finite values with
  // q = clamp(nearbyint(x * inverse), low, high), as float sums over chunks of
  // search_steps::kRankChunk values added in double. Per lane: the count `n` and sum `sum_x` of the
  // finite values, chunked the same way. Every inverse must be finite.
  void (*lane_rank_sums)(const LaneValues& values, const LaneRankCandidates& candidates, LaneRankSums* sums,
                         double* n, double* sum_x);
  // Per lane: squared_error in scale_search.hpp.
  void (*lane_squared_error)(const LaneValues& values, const LaneChoices& choices, CodeRange range, double* error);
  // Per lane: the ErrorSums of the values against their dequantized codes,
  // float(code - zero_point) * scale, where code is what lane_quantize writes. Every value counts;
  // each lane adds in value order.
  void (*lane_error_sums)(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                          LaneErrorSums& sums);
  // Per lane: quantize_to_code of every value, low byte, stored as codes[j * kLanes + l].
  void (*lane_quantize)(const LaneValues& values, const LaneChoices& choices, CodeRange range, uint8_t* codes);

  // The min and max of the finite values of a run, widened to include 0 (exact in any order).
  void (*range)(const float* values, int64_t count, float& min, float& max);
  // ErrorSums of a run. Element i goes to accumulator i % kLanes and the accumulators are added in
  // order at the end, so the sums depend on the run boundaries but not on the instruction set.
  ErrorSums (*error_sums)(const float* original, const float* reconstructed, int64_t count);
  // Over the finite nonzero values x of `original` and their reconstructions y: the largest
  // |x - y| / |x|, computed in double (exact in any order), or 0. `nonfinite` is set to the count of
  // NaN and infinite values in `original`.
  double (*max_relative_error)(const float* original, const float* reconstructed, int64_t count,
                               int64_t& nonfinite);
  // quantize_value in linear_quantization.hpp, low byte. With `per_element`, element i uses
  // scales[i] and zero_points[i]; otherwise every element uses scales[0] and zero_points[0].
  void (*quantize_run)(const float* values, int64_t count, const float* scales, const int32_t* zero_points,
                       bool per_element, int32_t code_min, int32_t code_max, uint8_t* output);
  // output[i] = float(codes[i] - zero_point) * scale, parameters as in quantize_run.
  void (*dequantize_run)(const int32_t* codes, int64_t count, const float* scales, const int32_t* zero_points,
                         bool per_element, float* output);
  // Widens int8 (is_signed) or uint8 codes to int32.
  void (*widen_bytes)(const uint8_t* bytes, int64_t count, bool is_signed, int32_t* output);
  // Packs 2 * pairs codes two per byte, the even element in the low nibble.
  void (*pack_4bit)(const int8_t* codes, int64_t pairs, uint8_t* output);

  // float16 and bfloat16 conversions as float16.hpp defines them. With `saturate`, the
  // *_saturating variants; the return value is the count of saturated values (0 otherwise).
  uint64_t (*float_to_half)(const float* values, int64_t count, bool saturate, uint16_t* output);
  void (*half_to_float)(const uint16_t* bits, int64_t count, float* output);
  uint64_t (*float_to_bfloat16)(const float* values, int64_t count, bool saturate, uint16_t* output);
  void (*bfloat16_to_float)(const uint16_t* bits, int64_t count, float* output);
};

// Adds elements [begin, count) of a run to the accumulators lanes[i % kLanes], then adds the
// accumulators in lane order. Both versions of error_sums end with it.
ErrorSums finish_error_sums(ErrorSums* lanes, const float* original, const float* reconstructed, int64_t begin,
                            int64_t count);

// The primitives of simd_level().
const Primitives& primitives();

// The portable versions, and the AVX2 versions (null in builds for other architectures).
const Primitives& portable_primitives();
const Primitives* avx2_primitives();

}  // namespace simd
}  // namespace onnxquant::kernels
