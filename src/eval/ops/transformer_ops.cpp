// ONNX Runtime contrib operators of transformer language models (com.microsoft): RotaryEmbedding,
// MultiHeadAttention, GroupQueryAttention and the Gelu variants.
#include <cmath>
#include <fmt/format.h>

#include "eval/ops/attention.hpp"
#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

using onnx::TensorProto;

// Cosine and sine tables [max_position, rotary_dim / 2].
struct RotaryTables {
  std::vector<float> cos;
  std::vector<float> sin;
  int64_t positions = 0;
  int64_t half = 0;

  RotaryTables(const Tensor& cos_cache, const Tensor& sin_cache)
      : cos(read_floats(cos_cache, "cos_cache")), sin(read_floats(sin_cache, "sin_cache")) {
    if (cos_cache.shape.size() != 2 || cos_cache.shape != sin_cache.shape) {
      throw ModelError("cos_cache and sin_cache must be two-dimensional and of one shape");
    }
    positions = cos_cache.shape[0];
    half = cos_cache.shape[1];
  }

  // Rotates the first 2 * half values of a head vector to `position`.
  void apply(float* x, int64_t position, bool interleaved) const {
    if (position < 0 || position >= positions) {
      throw ModelError(fmt::format("position {} is outside the rotary cache of {} positions", position, positions));
    }
    rotate_half(x, cos.data() + position * half, sin.data() + position * half, 2 * half, interleaved);
  }
};

void run_rotary_embedding(KernelContext& c) {
  const Tensor& input = c.input(0);
  const std::vector<int64_t> positions = read_int64s(c.input(1), "position_ids");
  const RotaryTables tables(c.input(2), c.input(3));
  const bool interleaved = c.attributes().get_int("interleaved", 0) != 0;
  const int64_t num_heads = c.attributes().get_int("num_heads", 0);
  const int64_t rotary_dim = c.attributes().get_int("rotary_embedding_dim", 0);
  if (rotary_dim > 0 && rotary_dim != 2 * tables.half) throw ModelError("rotary_embedding_dim does not match the caches");

  // Layout: [B, S, N * H] (rank 3) or [B, N, S, H] (rank 4).
  int64_t batch = 0, length = 0, heads = 0, head_size = 0;
  const bool heads_first = input.shape.size() == 4;
  if (heads_first) {
    batch = input.shape[0], heads = input.shape[1], length = input.shape[2], head_size = input.shape[3];
  } else if (input.shape.size() == 3) {
    batch = input.shape[0], length = input.shape[1];
    head_size = num_heads > 0 ? input.shape[2] / num_heads : 2 * tables.half;
    heads = input.shape[2] / head_size;
  } else {
    throw ModelError(fmt::format("input has rank {}, expected 3 or 4", input.shape.size()));
  }
  if (2 * tables.half > head_size) throw ModelError("the rotary dimension exceeds the head size");
  if (positions.size() != 1 && static_cast<int64_t>(positions.size()) != batch * length) {
    throw ModelError("position_ids must hold one start position or [batch, sequence] positions");
  }
  std::vector<float> values = read_floats(input, "input");
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < length; ++s) {
      // One element is the position of the first token; the others follow it.
      const int64_t position = positions.size() == 1 ? positions[0] + s : positions[static_cast<size_t>(b * length + s)];
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t offset = heads_first ? ((b * heads + h) * length + s) * head_size : ((b * length + s) * heads + h) * head_size;
        tables.apply(values.data() + offset, position, interleaved);
      }
    }
  }
  c.set_output(0, tensor_from_floats(input.dtype, input.shape, values));
}

void check_rotary_embedding(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  if (attributes.get_int("is_packed_batching", 0) != 0) throw NotSupported("is_packed_batching is not supported");
  if (attributes.get_float("scale", 1.0f) != 1.0f) throw NotSupported("a scale other than 1 is not supported");
}

// Concatenates past [B, N, P, H] and new [B, N, L, H] along the sequence.
std::vector<float> concat_sequence(const std::vector<float>& past, int64_t past_length, const std::vector<float>& next,
                                   int64_t next_length, int64_t batch_heads, int64_t head_size) {
  const int64_t total = past_length + next_length;
  std::vector<float> result(static_cast<size_t>(batch_heads * total * head_size));
  for (int64_t bh = 0; bh < batch_heads; ++bh) {
    std::copy_n(past.data() + bh * past_length * head_size, past_length * head_size, result.data() + bh * total * head_size);
    std::copy_n(next.data() + bh * next_length * head_size, next_length * head_size,
                result.data() + (bh * total + past_length) * head_size);
  }
  return result;
}

// Reads the optional additive attention_bias [B or 1, N or 1, S, T] into `problem`.
void bind_attention_bias(const Tensor* bias, std::vector<float>& storage, AttentionProblem& problem) {
  if (bias == nullptr) return;
  const auto& shape = bias->shape;
  if (shape.size() != 4 || (shape[0] != problem.batch && shape[0] != 1) || (shape[1] != problem.heads && shape[1] != 1) ||
      shape[2] != problem.query_length || shape[3] != problem.key_length) {
    throw ModelError(fmt::format("attention_bias has shape {}, expected [{} or 1, {} or 1, {}, {}]", shape_text(shape),
                                 problem.batch, problem.heads, problem.query_length, problem.key_length));
  }
  storage = read_floats(*bias, "attention_bias");
  problem.bias = storage.data();
  const int64_t matrix = problem.query_length * problem.key_length;
  problem.bias_head_stride = shape[1] == 1 ? 0 : matrix;
  problem.bias_batch_stride = shape[0] == 1 ? 0 : shape[1] * matrix;
}

// MultiHeadAttention with query [B, S, N * H] and key and value [B, L, N * H], or already split
// into heads as [B, N, L, H]. The projection bias, key padding mask, attention bias and past key
// and value are optional.
void run_multi_head_attention(KernelContext& c) {
  const Tensor& query = c.input(0);
  const Tensor* key = c.optional_input(1);
  const Tensor* value = c.optional_input(2);
  const int64_t heads = c.attributes().require_int("num_heads");
  if (query.shape.size() != 3 || key == nullptr || value == nullptr) {
    throw NotSupported("packed QKV or KV inputs are not supported; query, key and value must be given apart");
  }
  AttentionProblem p;
  p.batch = query.shape[0];
  p.query_length = query.shape[1];
  p.heads = p.kv_heads = heads;
  p.head_size = query.shape[2] / heads;
  std::vector<float> q = read_floats(query, "query");
  std::vector<float> k = read_floats(*key, "key");
  std::vector<float> v = read_floats(*value, "value");
  const bool split_kv = key->shape.size() == 4;
  const int64_t new_length = split_kv ? key->shape[2] : key->shape.at(1);
  p.value_head_size = split_kv ? value->shape.at(3) : value->shape.at(2) / heads;
  if (const Tensor* bias = c.optional_input(3)) {
    if (split_kv) throw NotSupported("a projection bias with key and value split into heads is not supported");
    const std::vector<float> b = read_floats(*bias, "bias");
    const int64_t hidden = heads * p.head_size;
    const int64_t v_hidden = heads * p.value_head_size;
    if (static_cast<int64_t>(b.size()) != 2 * hidden + v_hidden) throw ModelError("bias must hold the Q, K and V biases");
    for (size_t i = 0; i < q.size(); ++i) q[i] += b[i % static_cast<size_t>(hidden)];
    for (size_t i = 0; i < k.size(); ++i) k[i] += b[static_cast<size_t>(hidden) + i % static_cast<size_t>(hidden)];
    for (size_t i = 0; i < v.size(); ++i) v[i] += b[static_cast<size_t>(2 * hidden) + i % static_cast<size_t>(v_hidden)];
  }
  q = to_heads_first(q, p.batch, p.query_length, heads, p.head_size);
  if (!split_kv) {
    k = to_heads_first(k, p.batch, new_length, heads, p.head_size);
    v = to_heads_first(v, p.batch, new_length, heads, p.value_head_size);
  }
  int64_t past_length = 0;
  if (const Tensor* past_key = c.optional_input(6)) {
    const Tensor* past_value = c.optional_input(7);
    if (past_value == nullptr || split_kv) throw ModelError("past_key needs past_value and key of shape [B, L, N * H]");
    past_length = past_key->shape.at(2);
    k = concat_sequence(read_floats(*past_key, "past_key"), past_length, k, new_length, p.batch * heads, p.head_size);
    v = concat_sequence(read_floats(*past_value, "past_value"), past_length, v, new_length, p.batch * heads,
                        p.value_head_size);
  }
  p.key_length = past_length + new_length;
  const float default_scale = 1.0f / std::sqrt(static_cast<float>(p.head_size));
  p.scale = c.attributes().get_float("scale", 0.0f);
  if (p.scale == 0.0f) p.scale = default_scale;
  if (c.attributes().get_int("unidirectional", 0) != 0) {
    p.causal = true;
    p.query_offset.assign(static_cast<size_t>(p.batch), p.key_length - p.query_length);
  }
  if (const Tensor* mask = c.optional_input(4)) {
    const float filter = c.attributes().get_float("mask_filter_value", -10000.0f);
    const std::vector<int64_t> flags = read_int64s(*mask, "key_padding_mask");
    if (mask->shape.size() == 1 && mask->shape[0] == p.batch) {
      p.valid_keys = flags;
    } else if ((mask->shape.size() == 2 && mask->shape[1] == p.key_length) ||
               (mask->shape.size() == 3 && mask->shape[1] == p.query_length && mask->shape[2] == p.key_length)) {
      p.mask_rows = mask->shape.size() == 3 ? p.query_length : 1;
      p.key_mask.resize(flags.size());
      for (size_t i = 0; i < flags.size(); ++i) p.key_mask[i] = flags[i] == 0 ? filter : 0.0f;
    } else {
      throw NotSupported(fmt::format("key_padding_mask of shape {} is not supported", shape_text(mask->shape)));
    }
  }
  std::vector<float> bias_storage;
  bind_attention_bias(c.optional_input(5), bias_storage, p);

  const std::vector<float> output = attend(p, q, k, v, c.pool());
  c.set_output(0, tensor_from_floats(query.dtype, {p.batch, p.query_length, heads * p.value_head_size}, output));
  if (c.wants_output(1)) c.set_output(1, tensor_from_floats(query.dtype, {p.batch, heads, p.key_length, p.head_size}, k));
  if (c.wants_output(2)) {
    c.set_output(2, tensor_from_floats(query.dtype, {p.batch, heads, p.key_length, p.value_head_size}, v));
  }
}

void check_multi_head_attention(const onnx::NodeProto& node, const NodeAttributes&, int) {
  check_input_count(node, 8);
  if (node.output_size() > 3 && !node.output(3).empty()) throw NotSupported("the qk output is not supported");
}

// The new query, key and value of GroupQueryAttention as [B, S, N * H] arrays, from separate inputs
// or from packed QKV.
struct NewTokens {
  std::vector<float> q, k, v;
};

NewTokens read_new_tokens(KernelContext& c, const AttentionProblem& p) {
  const int64_t q_hidden = p.heads * p.head_size;
  const int64_t kv_hidden = p.kv_heads * p.head_size;
  NewTokens tokens;
  if (!c.has_input(1)) {
    const std::vector<float> qkv = read_floats(c.input(0), "query");
    const int64_t width = q_hidden + 2 * kv_hidden;
    for (int64_t row = 0; row < p.batch * p.query_length; ++row) {
      const float* from = qkv.data() + row * width;
      tokens.q.insert(tokens.q.end(), from, from + q_hidden);
      tokens.k.insert(tokens.k.end(), from + q_hidden, from + q_hidden + kv_hidden);
      tokens.v.insert(tokens.v.end(), from + q_hidden + kv_hidden, from + width);
    }
    return tokens;
  }
  tokens.q = read_floats(c.input(0), "query");
  tokens.k = read_floats(c.input(1), "key");
  tokens.v = read_floats(c.input(2), "value");
  if (static_cast<int64_t>(tokens.k.size()) != p.batch * p.query_length * kv_hidden || tokens.k.size() != tokens.v.size()) {
    throw ModelError("key and value must be [B, S, kv_num_heads * head_size]");
  }
  return tokens;
}

// Rotates each head vector of x [B, heads, S, H] to the absolute position of its token.
void rotate_tokens(const RotaryTables& tables, bool interleaved, const AttentionProblem& p, int64_t heads,
                   std::vector<float>& x) {
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t s = 0; s < p.query_length; ++s) {
        const int64_t position = p.query_offset[static_cast<size_t>(b)] + s;
        tables.apply(x.data() + ((b * heads + h) * p.query_length + s) * p.head_size, position, interleaved);
      }
    }
  }
}

// The present cache [B, Nkv, key_length, H]: the past buffer, with the new tokens written at each
// batch entry's offset.
std::vector<float> present_cache(const Tensor* past, const std::vector<float>& next, const AttentionProblem& p) {
  const int64_t past_length = past != nullptr ? past->shape.at(2) : 0;
  const std::vector<float> past_values = past != nullptr ? read_floats(*past, "past key or value") : std::vector<float>{};
  std::vector<float> present(static_cast<size_t>(p.batch * p.kv_heads * p.key_length * p.head_size), 0.0f);
  const int64_t row = p.head_size;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.kv_heads; ++h) {
      const int64_t bh = b * p.kv_heads + h;
      if (!past_values.empty()) {
        std::copy_n(past_values.data() + bh * past_length * row, past_length * row, present.data() + bh * p.key_length * row);
      }
      const int64_t offset = p.query_offset[static_cast<size_t>(b)];
      const int64_t count = std::min(p.query_length, p.key_length - offset);
      std::copy_n(next.data() + bh * p.query_length * row, count * row, present.data() + (bh * p.key_length + offset) * row);
    }
  }
  return present;
}

// Query offsets and valid key counts from seqlens_k (total length - 1 per batch entry). The first
// prompt has no past; later steps append S tokens after seqlens_k + 1 - S cached ones.
void bind_sequence_lengths(KernelContext& c, int64_t past_buffer, AttentionProblem& p) {
  const std::vector<int64_t> seqlens = read_int64s(c.input(5), "seqlens_k");
  const int64_t total = read_int64_scalar(c.input(6), "total_sequence_length");
  if (static_cast<int64_t>(seqlens.size()) != p.batch) throw ModelError("seqlens_k must have one value per batch entry");
  const bool first_prompt = past_buffer == 0 && total == p.query_length;
  p.query_offset.resize(static_cast<size_t>(p.batch));
  p.valid_keys.resize(static_cast<size_t>(p.batch));
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t length = seqlens[static_cast<size_t>(b)] + 1;
    p.query_offset[static_cast<size_t>(b)] = first_prompt ? 0 : length - p.query_length;
    p.valid_keys[static_cast<size_t>(b)] = length;
    if (p.query_offset[static_cast<size_t>(b)] < 0) throw ModelError("seqlens_k is shorter than the new tokens");
  }
  p.key_length = std::max(total, past_buffer);
}

// GroupQueryAttention: query [B, S, N * H] (or packed QKV), key and value [B, S, Nkv * H], past
// key and value [B, Nkv, P, H], seqlens_k [B] (total length - 1 per batch entry) and the scalar
// total_sequence_length. Present key and value are the past followed by the new keys and values.
void run_group_query_attention(KernelContext& c) {
  const Tensor& query = c.input(0);
  const int64_t heads = c.attributes().require_int("num_heads");
  const int64_t kv_heads = c.attributes().require_int("kv_num_heads");
  if (query.shape.size() != 3 || heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0) {
    throw ModelError("query must be [B, S, D] and num_heads a multiple of kv_num_heads");
  }
  AttentionProblem p;
  p.batch = query.shape[0];
  p.query_length = query.shape[1];
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_size = c.has_input(1) ? query.shape[2] / heads : query.shape[2] / (heads + 2 * kv_heads);
  p.value_head_size = p.head_size;
  const Tensor* past_key = c.optional_input(3);
  bind_sequence_lengths(c, past_key != nullptr ? past_key->shape.at(2) : 0, p);

  NewTokens tokens = read_new_tokens(c, p);
  std::vector<float> q = to_heads_first(tokens.q, p.batch, p.query_length, heads, p.head_size);
  std::vector<float> k = to_heads_first(tokens.k, p.batch, p.query_length, kv_heads, p.head_size);
  const std::vector<float> v = to_heads_first(tokens.v, p.batch, p.query_length, kv_heads, p.head_size);
  if (c.attributes().get_int("do_rotary", 0) != 0) {
    const RotaryTables tables(c.input(7), c.input(8));
    const bool interleaved = c.attributes().get_int("rotary_interleaved", 0) != 0;
    rotate_tokens(tables, interleaved, p, heads, q);
    rotate_tokens(tables, interleaved, p, kv_heads, k);
  }
  const std::vector<float> present_k = present_cache(past_key, k, p);
  const std::vector<float> present_v = present_cache(c.optional_input(4), v, p);

  p.causal = c.attributes().get_int("causal", 1) != 0;
  p.local_window = c.attributes().get_int("local_window_size", -1);
  p.softcap = c.attributes().get_float("softcap", 0.0f);
  p.scale = c.attributes().get_float("scale", 0.0f);
  if (p.scale == 0.0f) p.scale = 1.0f / std::sqrt(static_cast<float>(p.head_size));
  p.extra_logit = c.attributes().get_int("smooth_softmax", 0) != 0 || c.has_input(11);
  if (c.has_input(11)) p.head_sink = read_floats(c.input(11), "head_sink");
  std::vector<float> bias_storage;
  bind_attention_bias(c.optional_input(10), bias_storage, p);

  const std::vector<float> output = attend(p, q, present_k, present_v, c.pool());
  c.set_output(0, tensor_from_floats(query.dtype, {p.batch, p.query_length, heads * p.head_size}, output));
  const std::vector<int64_t> present_shape = {p.batch, kv_heads, p.key_length, p.head_size};
  if (c.wants_output(1)) c.set_output(1, tensor_from_floats(query.dtype, present_shape, present_k));
  if (c.wants_output(2)) c.set_output(2, tensor_from_floats(query.dtype, present_shape, present_v));
}

void check_group_query_attention(const onnx::NodeProto& node, const NodeAttributes& attributes, int) {
  check_input_count(node, 12);
  if (node.input_size() > 9 && !node.input(9).empty()) throw NotSupported("the position_ids input is not supported");
  for (const char* name : {"k_quant_type", "v_quant_type"}) {
    if (attributes.get_string(name, "NONE") != "NONE") throw NotSupported("a quantized KV cache is not supported");
  }
  if (attributes.get_int("qk_output", 0) != 0 || (node.output_size() > 3 && !node.output(3).empty())) {
    throw NotSupported("the output_qk output is not supported");
  }
  if (attributes.get_int("sliding_window_cache", 0) != 0) throw NotSupported("sliding_window_cache is not supported");
  if (attributes.get_int("do_rotary", 0) != 0 && (node.input_size() < 9 || node.input(7).empty() || node.input(8).empty())) {
    throw NotSupported("do_rotary needs cos_cache and sin_cache");
  }
}

// Input 0 as float32 plus the optional bias of input 1, which repeats along the last axes.
std::vector<float> read_with_bias(KernelContext& c) {
  std::vector<float> values = read_floats(c.input(0), "X");
  if (const Tensor* bias = c.optional_input(1)) {
    const std::vector<float> b = read_floats(*bias, "bias");
    if (b.empty() || values.size() % b.size() != 0) throw ModelError("bias does not broadcast to X");
    for (size_t i = 0; i < values.size(); ++i) values[i] += b[i % b.size()];
  }
  return values;
}

// x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) with an optional bias added to x first.
void run_fast_gelu(KernelContext& c) {
  const Tensor& x = c.input(0);
  std::vector<float> values = read_with_bias(c);
  for (float& value : values) {
    value = 0.5f * value * (1.0f + std::tanh(0.7978845608028654f * (value + 0.044715f * value * value * value)));
  }
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, values));
}

// com.microsoft Gelu (exact, with erf) and BiasGelu (the same after adding a bias).
void run_microsoft_gelu(KernelContext& c) {
  const Tensor& x = c.input(0);
  std::vector<float> values = read_with_bias(c);
  for (float& value : values) value = 0.5f * value * (1.0f + std::erf(value * 0.7071067811865476f));
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, values));
}

void run_quick_gelu(KernelContext& c) {
  const Tensor& x = c.input(0);
  const float alpha = c.attributes().get_float("alpha", 1.702f);
  std::vector<float> values = read_floats(x, "X");
  for (float& value : values) value = value / (1.0f + std::exp(-alpha * value));
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, values));
}

}  // namespace

void register_transformer_ops(OperatorTable& table) {
  table.add(make_microsoft_spec("RotaryEmbedding", run_rotary_embedding,
                                {"interleaved", "is_packed_batching", "num_heads", "rotary_embedding_dim", "scale"},
                                check_rotary_embedding));
  table.add(make_microsoft_spec("MultiHeadAttention", run_multi_head_attention,
                                {"mask_filter_value", "num_heads", "scale", "unidirectional"}, check_multi_head_attention));
  table.add(make_microsoft_spec("GroupQueryAttention", run_group_query_attention,
                                {"causal", "do_rotary", "k_quant_type", "kv_num_heads", "local_window_size", "num_heads",
                                 "qk_output", "rotary_interleaved", "scale", "sliding_window_cache", "smooth_softmax",
                                 "softcap", "v_quant_type"},
                                check_group_query_attention));
  table.add(make_microsoft_spec("FastGelu", run_fast_gelu));
  table.add(make_microsoft_spec("Gelu", run_microsoft_gelu));
  table.add(make_microsoft_spec("BiasGelu", run_microsoft_gelu));
  table.add(make_microsoft_spec("QuickGelu", run_quick_gelu, {"alpha"}));
}

}  // namespace onnxquant::eval
