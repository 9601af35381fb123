// Scaled dot-product attention over heads, shared by MultiHeadAttention and GroupQueryAttention.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/thread_pool.hpp"

namespace onnxquant::eval {

// Q is [B, N, S, H], K is [B, Nkv, T, H] and V is [B, Nkv, T, Hv], all float32; query head h reads
// key and value head h / (N / Nkv). Scores are Q * K^T * scale, then softcap, then the additive
// bias and mask, then softmax over the keys that the masks allow.
struct AttentionProblem {
  int64_t batch = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t query_length = 0;
  int64_t key_length = 0;
  int64_t head_size = 0;
  int64_t value_head_size = 0;
  float scale = 1.0f;
  float softcap = 0.0f;  // 0: none

  // Causal masking: query s of batch b sits at absolute position query_offset[b] + s and attends to keys
  // up to that position; with local_window >= 0 only keys from position - local_window on.
  bool causal = false;
  std::vector<int64_t> query_offset;  // per batch; empty means 0
  int64_t local_window = -1;
  // Keys at or after valid_keys[b] are masked; empty means every key is valid.
  std::vector<int64_t> valid_keys;

  // Additive bias of shape [B or 1, N or 1, S, T]: the strides are 0 along broadcast dimensions.
  const float* bias = nullptr;
  int64_t bias_batch_stride = 0;
  int64_t bias_head_stride = 0;

  // Additive key mask of shape [B, T] or [B, S, T] (mask_rows = S), or empty.
  std::vector<float> key_mask;
  int64_t mask_rows = 1;

  // Softmax with one more logit (0 for smooth softmax, or head_sink[h]) in the denominator.
  bool extra_logit = false;
  std::vector<float> head_sink;  // per head; empty with extra_logit means 0
};

// Returns the attention output as [B, S, N, Hv] (which is [B, S, N * Hv]).
std::vector<float> attend(const AttentionProblem& problem, const std::vector<float>& q, const std::vector<float>& k,
                          const std::vector<float>& v, ThreadPool& pool);

// Rearranges [B, S, N, H] (the layout of [B, S, N * H] projections) into [B, N, S, H].
std::vector<float> to_heads_first(const std::vector<float>& x, int64_t batch, int64_t length, int64_t heads,
                                  int64_t head_size);

// Rotates pairs of the first `rotary_dim` values of one head vector by the angle whose cosines and
// sines are `cos` and `sin` (rotary_dim / 2 each): pairs (i, i + rotary_dim / 2), or (2i, 2i + 1)
// when interleaved.
void rotate_half(float* x, const float* cos, const float* sin, int64_t rotary_dim, bool interleaved);

}  // namespace onnxquant::eval
