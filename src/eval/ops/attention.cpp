#include "eval/ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "eval/gemm.hpp"
#include "eval/vector_math.hpp"

namespace onnxquant::eval {

std::vector<float> to_heads_first(const std::vector<float>& x, int64_t batch, int64_t length, int64_t heads,
                                  int64_t head_size) {
  std::vector<float> result(x.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < length; ++s) {
      for (int64_t h = 0; h < heads; ++h) {
        const float* from = x.data() + ((b * length + s) * heads + h) * head_size;
        std::copy(from, from + head_size, result.data() + ((b * heads + h) * length + s) * head_size);
      }
    }
  }
  return result;
}

void rotate_half(float* x, const float* cos, const float* sin, int64_t rotary_dim, bool interleaved) {
  const int64_t half = rotary_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t first = interleaved ? 2 * i : i;
    const int64_t second = interleaved ? 2 * i + 1 : i + half;
    const float a = x[first];
    const float b = x[second];
    x[first] = a * cos[i] - b * sin[i];
    x[second] = b * cos[i] + a * sin[i];
  }
}

namespace {

// Softmax of one row of scores in place; masked entries are -infinity. A row with every key
// masked gives zeros.
void softmax_row(float* scores, int64_t count, bool extra_logit, float extra) {
  float max = extra_logit ? extra : -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < count; ++j) max = std::max(max, scores[j]);
  if (std::isinf(max) && max < 0) {
    std::fill(scores, scores + count, 0.0f);
    return;
  }
  float sum = extra_logit ? std::exp(extra - max) : 0.0f;
  for (int64_t j = 0; j < count; ++j) scores[j] -= max;
  exp_floats(scores, scores, count);
  for (int64_t j = 0; j < count; ++j) sum += scores[j];
  for (int64_t j = 0; j < count; ++j) scores[j] /= sum;
}

// Adds masks and bias to the scores of query `s` of (b, h) and applies softcap.
void mask_scores(const AttentionProblem& p, int64_t b, int64_t h, int64_t s, float* scores) {
  const int64_t t_count = p.key_length;
  const float negative_infinity = -std::numeric_limits<float>::infinity();
  const int64_t offset = p.query_offset.empty() ? 0 : p.query_offset[static_cast<size_t>(b)];
  const int64_t position = offset + s;
  const int64_t valid = p.valid_keys.empty() ? t_count : std::min(t_count, p.valid_keys[static_cast<size_t>(b)]);
  const float* bias_row = p.bias == nullptr ? nullptr
                                            : p.bias + b * p.bias_batch_stride + h * p.bias_head_stride + s * t_count;
  const float* mask_row = p.key_mask.empty() ? nullptr
                                             : p.key_mask.data() + (b * p.mask_rows + (p.mask_rows > 1 ? s : 0)) * t_count;
  for (int64_t t = 0; t < t_count; ++t) {
    float score = scores[t];
    if (p.softcap > 0) score = p.softcap * std::tanh(score / p.softcap);
    if (bias_row != nullptr) score += bias_row[t];
    if (mask_row != nullptr) score += mask_row[t];
    const bool hidden = t >= valid || (p.causal && t > position) ||
                        (p.causal && p.local_window >= 0 && t < position - p.local_window);
    scores[t] = hidden ? negative_infinity : score;
  }
}

}  // namespace

std::vector<float> attend(const AttentionProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                          const std::vector<float>& v, ThreadPool& pool) {
  std::vector<float> output(static_cast<size_t>(p.batch * p.query_length * p.heads * p.value_head_size));
  const int64_t group = p.heads / std::max<int64_t>(p.kv_heads, 1);
  pool.parallel_for(p.batch * p.heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(p.query_length * p.key_length));
    std::vector<float> context(static_cast<size_t>(p.query_length * p.value_head_size));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / p.heads;
      const int64_t h = bh % p.heads;
      const int64_t kv = b * p.kv_heads + h / group;
      const float* q_head = q.data() + bh * p.query_length * p.head_size;
      const float* k_head = k.data() + kv * p.key_length * p.head_size;
      const float* v_head = v.data() + kv * p.key_length * p.value_head_size;
      // scores = scale * Q K^T, one product per head on this thread.
      gemm<float>(packed_gemm_shape(p.query_length, p.key_length, p.head_size, false, true), p.scale, q_head, k_head,
                  0.0f, scores.data(), pool);
      const float extra = p.head_sink.empty() ? 0.0f : p.head_sink[static_cast<size_t>(h)];
      for (int64_t s = 0; s < p.query_length; ++s) {
        float* row = scores.data() + s * p.key_length;
        mask_scores(p, b, h, s, row);
        softmax_row(row, p.key_length, p.extra_logit, extra);
      }
      gemm<float>(packed_gemm_shape(p.query_length, p.value_head_size, p.key_length), 1.0f, scores.data(), v_head, 0.0f,
                  context.data(), pool);
      for (int64_t s = 0; s < p.query_length; ++s) {
        std::copy(context.data() + s * p.value_head_size, context.data() + (s + 1) * p.value_head_size,
                  output.data() + ((b * p.query_length + s) * p.heads + h) * p.value_head_size);
      }
    }
  });
  return output;
}

}  // namespace onnxquant::eval
