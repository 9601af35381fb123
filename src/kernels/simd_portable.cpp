// The portable primitives: plain loops over the scalar reference operations. They run on CPUs
// without AVX2 and define the results that the AVX2 primitives must reproduce.
#include <algorithm>
#include <cmath>

#include "kernels/float16.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/scale_search_steps.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels::simd {
namespace {

float lane_value(const LaneValues& values, int64_t j, int lane) {
  const int64_t offset = j * values.row_stride;
  return values.broadcast ? values.data[offset] : values.data[offset + lane];
}

ScaleChoice lane_choice(const LaneChoices& choices, int lane) {
  return {choices.scale[lane], choices.zero_point[lane]};
}

void lane_range(const LaneValues& values, float* min, float* max) {
  std::fill_n(min, kLanes, 0.0f);
  std::fill_n(max, kLanes, 0.0f);
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = lane_value(values, j, lane);
      if (!std::isfinite(x)) continue;
      min[lane] = std::min(min[lane], x);
      max[lane] = std::max(max[lane], x);
    }
  }
}

void lane_largest_magnitude(const LaneValues& values, float* largest) {
  std::fill_n(largest, kLanes, 0.0f);
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = lane_value(values, j, lane);
      if (std::isfinite(x) && std::fabs(x) > std::fabs(largest[lane])) largest[lane] = x;
    }
  }
}

void lane_fixed_fit_sums(const LaneValues& values, const LaneChoices& choices, CodeRange range, double* numerator,
                         double* denominator) {
  std::fill_n(numerator, kLanes, 0.0);
  std::fill_n(denominator, kLanes, 0.0);
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = lane_value(values, j, lane);
      if (!std::isfinite(x)) continue;
      const ScaleChoice choice = lane_choice(choices, lane);
      const double q = quantize_to_code(x, choice, range) - choice.zero_point;
      numerator[lane] += x * q;
      denominator[lane] += q * q;
    }
  }
}

void lane_affine_fit_sums(const LaneValues& values, const LaneChoices& choices, CodeRange range,
                          LaneAffineSums& sums) {
  sums = LaneAffineSums{};
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = lane_value(values, j, lane);
      if (!std::isfinite(x)) continue;
      const double q = quantize_to_code(x, lane_choice(choices, lane), range);
      sums.n[lane] += 1.0;
      sums.sum_q[lane] += q;
      sums.sum_x[lane] += x;
      sums.sum_qq[lane] += q * q;
      sums.sum_qx[lane] += q * x;
    }
  }
}

void lane_rank_sums(const LaneValues& values, const LaneRankCandidates& candidates, LaneRankSums* sums, double* n,
                    double* sum_x) {
  std::fill_n(n, kLanes, 0.0);
  std::fill_n(sum_x, kLanes, 0.0);
  std::fill_n(sums, candidates.count, LaneRankSums{});
  for (int64_t start = 0; start < values.count; start += search_steps::kRankChunk) {
    const int64_t end = std::min(values.count, start + search_steps::kRankChunk);
    for (int lane = 0; lane < kLanes; ++lane) {
      float chunk_n = 0.0f;
      float chunk_x = 0.0f;
      for (int64_t j = start; j < end; ++j) {
        const float x = lane_value(values, j, lane);
        if (!std::isfinite(x)) continue;
        chunk_n += 1.0f;
        chunk_x += x;
      }
      n[lane] += chunk_n;
      sum_x[lane] += chunk_x;
      for (int c = 0; c < candidates.count; ++c) {
        const int index = c * kLanes + lane;
        float sum_q = 0.0f;
        float sum_qq = 0.0f;
        float sum_qx = 0.0f;
        for (int64_t j = start; j < end; ++j) {
          const float x = lane_value(values, j, lane);
          if (!std::isfinite(x)) continue;
          const float q =
              std::clamp(std::nearbyint(x * candidates.inverse[index]), candidates.low[index], candidates.high[index]);
          sum_q += q;
          sum_qq += q * q;
          sum_qx += q * x;
        }
        sums[c].sum_q[lane] += sum_q;
        sums[c].sum_qq[lane] += sum_qq;
        sums[c].sum_qx[lane] += sum_qx;
      }
    }
  }
}

void lane_squared_error(const LaneValues& values, const LaneChoices& choices, CodeRange range, double* error) {
  std::fill_n(error, kLanes, 0.0);
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = lane_value(values, j, lane);
      if (!std::isfinite(x)) continue;
      const ScaleChoice choice = lane_choice(choices, lane);
      const int32_t q = quantize_to_code(x, choice, range) - choice.zero_point;
      const double restored = static_cast<double>(q) * choice.scale;
      error[lane] += (x - restored) * (x - restored);
    }
  }
}

void lane_error_sums(const LaneValues& values, const LaneChoices& choices, CodeRange range, LaneErrorSums& sums) {
  sums = {};
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = lane_value(values, j, lane);
      const ScaleChoice choice = lane_choice(choices, lane);
      const int32_t code = std::isnan(x) ? choice.zero_point : quantize_to_code(x, choice, range);
      const double original = x;
      const double restored = static_cast<float>(code - choice.zero_point) * choice.scale;
      const double error = original - restored;
      sums.signal[lane] += original * original;
      sums.noise[lane] += error * error;
      sums.dot[lane] += original * restored;
      sums.reconstructed_norm[lane] += restored * restored;
      sums.max_abs_error[lane] = std::max(sums.max_abs_error[lane], std::fabs(error));
    }
  }
}

void lane_quantize(const LaneValues& values, const LaneChoices& choices, CodeRange range, uint8_t* codes) {
  for (int64_t j = 0; j < values.count; ++j) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const int32_t code = quantize_to_code(lane_value(values, j, lane), lane_choice(choices, lane), range);
      codes[j * kLanes + lane] = static_cast<uint8_t>(code & 0xff);
    }
  }
}

void range(const float* values, int64_t count, float& min, float& max) {
  min = 0.0f;
  max = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    const float x = values[i];
    if (!std::isfinite(x)) continue;
    min = std::min(min, x);
    max = std::max(max, x);
  }
}

ErrorSums error_sums(const float* original, const float* reconstructed, int64_t count) {
  ErrorSums lanes[kLanes];
  return finish_error_sums(lanes, original, reconstructed, 0, count);
}

double max_relative_error(const float* original, const float* reconstructed, int64_t count, int64_t& nonfinite) {
  double largest = 0.0;
  nonfinite = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double x = original[i];
    if (!std::isfinite(x)) {
      ++nonfinite;
    } else if (x != 0.0) {
      largest = std::max(largest, std::fabs(x - static_cast<double>(reconstructed[i])) / std::fabs(x));
    }
  }
  return largest;
}

void quantize_run(const float* values, int64_t count, const float* scales, const int32_t* zero_points,
                  bool per_element, int32_t code_min, int32_t code_max, uint8_t* output) {
  for (int64_t i = 0; i < count; ++i) {
    const int64_t p = per_element ? i : 0;
    const int32_t q = quantize_value(values[i], {scales[p], zero_points[p]}, {code_min, code_max});
    output[i] = static_cast<uint8_t>(q & 0xff);
  }
}

void dequantize_run(const int32_t* codes, int64_t count, const float* scales, const int32_t* zero_points,
                    bool per_element, float* output) {
  for (int64_t i = 0; i < count; ++i) {
    const int64_t p = per_element ? i : 0;
    output[i] = static_cast<float>(codes[i] - zero_points[p]) * scales[p];
  }
}

void widen_bytes(const uint8_t* bytes, int64_t count, bool is_signed, int32_t* output) {
  for (int64_t i = 0; i < count; ++i) {
    output[i] = is_signed ? static_cast<int32_t>(static_cast<int8_t>(bytes[i])) : static_cast<int32_t>(bytes[i]);
  }
}

void pack_4bit(const int8_t* codes, int64_t pairs, uint8_t* output) {
  for (int64_t i = 0; i < pairs; ++i) {
    output[i] = static_cast<uint8_t>((codes[2 * i] & 0x0f) | ((codes[2 * i + 1] & 0x0f) << 4));
  }
}

uint64_t float_to_half(const float* values, int64_t count, bool saturate, uint16_t* output) {
  uint64_t saturated_count = 0;
  for (int64_t i = 0; i < count; ++i) {
    bool saturated = false;
    output[i] = saturate ? float_to_half_saturating(values[i], saturated) : kernels::float_to_half(values[i]);
    saturated_count += saturated ? 1 : 0;
  }
  return saturated_count;
}

void half_to_float(const uint16_t* bits, int64_t count, float* output) {
  for (int64_t i = 0; i < count; ++i) output[i] = kernels::half_to_float(bits[i]);
}

uint64_t float_to_bfloat16(const float* values, int64_t count, bool saturate, uint16_t* output) {
  uint64_t saturated_count = 0;
  for (int64_t i = 0; i < count; ++i) {
    bool saturated = false;
    output[i] = saturate ? float_to_bfloat16_saturating(values[i], saturated) : kernels::float_to_bfloat16(values[i]);
    saturated_count += saturated ? 1 : 0;
  }
  return saturated_count;
}

void bfloat16_to_float(const uint16_t* bits, int64_t count, float* output) {
  for (int64_t i = 0; i < count; ++i) output[i] = kernels::bfloat16_to_float(bits[i]);
}

constexpr Primitives kPortable = {
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

ErrorSums finish_error_sums(ErrorSums* lanes, const float* original, const float* reconstructed, int64_t begin,
                            int64_t count) {
  for (int64_t i = begin; i < count; ++i) {
    ErrorSums& lane = lanes[i % kLanes];
    const double x = original[i];
    const double y = reconstructed[i];
    const double error = x - y;
    lane.signal += x * x;
    lane.noise += error * error;
    lane.dot += x * y;
    lane.reconstructed_norm += y * y;
    lane.max_abs_error = std::max(lane.max_abs_error, std::fabs(error));
  }
  ErrorSums total = lanes[0];
  for (int lane = 1; lane < kLanes; ++lane) accumulate(total, lanes[lane]);
  return total;
}

void accumulate(ErrorSums& total, const ErrorSums& part) {
  total.signal += part.signal;
  total.noise += part.noise;
  total.dot += part.dot;
  total.reconstructed_norm += part.reconstructed_norm;
  total.max_abs_error = std::max(total.max_abs_error, part.max_abs_error);
}

const Primitives& portable_primitives() { return kPortable; }

}  // namespace onnxquant::kernels::simd
