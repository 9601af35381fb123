// Normalizations: LayerNormalization, SimplifiedLayerNormalization (RMS norm, an ONNX Runtime
// operator of the default domain), com.microsoft SkipSimplifiedLayerNormalization and
// SkipLayerNormalization, BatchNormalization, InstanceNormalization, GroupNormalization,
// LpNormalization and MeanVarianceNormalization.
#include <cmath>
#include <fmt/format.h>

#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Normalizes each row of `columns` values: y = (x - mean) * inv_std * scale + bias, where for the
// RMS form the mean is 0 and inv_std = 1 / sqrt(mean(x^2) + epsilon). Scale and bias repeat every
// `parameter_size` values (they broadcast over the normalized shape). Mean and inv_std per row are
// returned through the optional spans.
struct RowNormalization {
  bool rms = false;
  float epsilon = 1e-5f;
  int64_t columns = 0;
  const float* scale = nullptr;
  const float* bias = nullptr;
  int64_t parameter_size = 0;
};

void normalize_rows(const RowNormalization& p, const float* in, float* out, int64_t rows, float* means, float* inv_stds,
                    ThreadPool& pool) {
  pool.parallel_for(rows, grain_for(p.columns), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = in + r * p.columns;
      float* y = out + r * p.columns;
      double mean = 0;
      if (!p.rms) {
        for (int64_t i = 0; i < p.columns; ++i) mean += x[i];
        mean /= static_cast<double>(p.columns);
      }
      double variance = 0;
      for (int64_t i = 0; i < p.columns; ++i) variance += (x[i] - mean) * (x[i] - mean);
      variance /= static_cast<double>(p.columns);
      const float inv_std = static_cast<float>(1.0 / std::sqrt(variance + static_cast<double>(p.epsilon)));
      for (int64_t i = 0; i < p.columns; ++i) {
        const int64_t j = p.parameter_size > 0 ? i % p.parameter_size : i;
        float value = (x[i] - static_cast<float>(mean)) * inv_std;
        if (p.scale != nullptr) value *= p.scale[j];
        if (p.bias != nullptr) value += p.bias[j];
        y[i] = value;
      }
      if (means != nullptr) means[r] = static_cast<float>(mean);
      if (inv_stds != nullptr) inv_stds[r] = inv_std;
    }
  });
}

// Scale and bias must cover the normalized shape by trailing broadcasting, that is repeat with a
// period that divides the row.
int64_t parameter_period(const Tensor& parameter, int64_t columns, const char* role) {
  const int64_t count = static_cast<int64_t>(parameter.element_count());
  if (count == 0 || columns % count != 0) {
    throw ModelError(fmt::format("{} has {} values, which do not broadcast to rows of {}", role, count, columns));
  }
  return count;
}

// Writes the per-row statistics outputs with the normalized axes kept as 1.
void set_statistics(KernelContext& c, int mean_output, size_t inv_std_output, const std::vector<int64_t>& shape,
                    size_t axis, const std::vector<float>& means, const std::vector<float>& inv_stds) {
  std::vector<int64_t> stats_shape = shape;
  for (size_t d = axis; d < stats_shape.size(); ++d) stats_shape[d] = 1;
  if (mean_output >= 0 && c.wants_output(static_cast<size_t>(mean_output))) {
    c.set_output(static_cast<size_t>(mean_output), tensor_from_floats(onnx::TensorProto::FLOAT, stats_shape, means));
  }
  if (c.wants_output(inv_std_output)) {
    c.set_output(inv_std_output, tensor_from_floats(onnx::TensorProto::FLOAT, stats_shape, inv_stds));
  }
}

void layer_norm(KernelContext& c, bool rms) {
  const Tensor& x = c.input(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", -1), rank));
  RowNormalization p;
  p.rms = rms;
  p.epsilon = c.attributes().get_float("epsilon", 1e-5f);
  p.columns = product(std::span(x.shape).subspan(axis));
  const int64_t rows = product(std::span(x.shape).first(axis));
  const std::vector<float> scale = read_floats(c.input(1), "scale");
  p.scale = scale.data();
  p.parameter_size = parameter_period(c.input(1), p.columns, "scale");
  std::vector<float> bias;
  if (!rms && c.has_input(2)) {
    bias = read_floats(c.input(2), "bias");
    p.bias = bias.data();
    if (parameter_period(c.input(2), p.columns, "bias") != p.parameter_size) throw ModelError("scale and bias differ in size");
  }
  const std::vector<float> in = read_floats(x, "X");
  std::vector<float> out(in.size());
  std::vector<float> means(static_cast<size_t>(rows)), inv_stds(static_cast<size_t>(rows));
  normalize_rows(p, in.data(), out.data(), rows, means.data(), inv_stds.data(), c.pool());
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, out));
  // The RMS form has no mean output: its outputs are Y and inv_std_var.
  if (rms) {
    set_statistics(c, -1, 1, x.shape, axis, means, inv_stds);
  } else {
    set_statistics(c, 1, 2, x.shape, axis, means, inv_stds);
  }
}

void run_layer_norm(KernelContext& c) { layer_norm(c, false); }
void run_simplified_layer_norm(KernelContext& c) { layer_norm(c, true); }

void check_stash_type(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  if (attributes.get_int("stash_type", 1) != 1) throw NotSupported("stash_type other than 1 (float32) is not supported");
}

// Skip(Simplified)LayerNormalization: sum = input + skip (+ bias), output = norm(sum) * gamma (+ beta).
void skip_layer_norm(KernelContext& c, bool rms) {
  const Tensor& input = c.input(0);
  const Tensor& skip = c.input(1);
  const int64_t columns = input.shape.empty() ? 1 : input.shape.back();
  const int64_t rows = product(input.shape) / std::max<int64_t>(columns, 1);
  std::vector<float> sum = read_floats(input, "input");
  const std::vector<float> skip_values = read_floats(skip, "skip");
  if (skip_values.empty() || sum.size() % skip_values.size() != 0 || skip_values.size() % columns != 0) {
    throw ModelError(fmt::format("skip of shape {} does not broadcast to input of shape {}", shape_text(skip.shape),
                                 shape_text(input.shape)));
  }
  // The last input is the bias of the sum: index 3 for the simplified form, 4 after beta otherwise.
  const size_t bias_index = rms ? 3 : 4;
  std::vector<float> bias;
  if (c.has_input(bias_index)) bias = read_floats(c.input(bias_index), "bias");
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != columns) throw ModelError("bias must have hidden_size values");
  for (size_t i = 0; i < sum.size(); ++i) {
    sum[i] += skip_values[i % skip_values.size()];
    if (!bias.empty()) sum[i] += bias[i % bias.size()];
  }

  RowNormalization p;
  p.rms = rms;
  p.epsilon = c.attributes().get_float("epsilon", 1e-12f);
  p.columns = columns;
  const std::vector<float> gamma = read_floats(c.input(2), "gamma");
  p.scale = gamma.data();
  p.parameter_size = parameter_period(c.input(2), columns, "gamma");
  std::vector<float> beta;
  if (!rms && c.has_input(3)) {
    beta = read_floats(c.input(3), "beta");
    p.bias = beta.data();
  }
  // The float32 sum is normalized. The input_skip_bias_sum output is the sum rounded to the input type.
  std::vector<float> out(sum.size());
  std::vector<float> means(static_cast<size_t>(rows)), inv_stds(static_cast<size_t>(rows));
  normalize_rows(p, sum.data(), out.data(), rows, means.data(), inv_stds.data(), c.pool());
  c.set_output(0, tensor_from_floats(input.dtype, input.shape, out));
  set_statistics(c, 1, 2, input.shape, input.shape.empty() ? 0 : input.shape.size() - 1, means, inv_stds);
  if (c.wants_output(3)) c.set_output(3, tensor_from_floats(input.dtype, input.shape, sum));
}

void run_skip_simplified_layer_norm(KernelContext& c) { skip_layer_norm(c, true); }
void run_skip_layer_norm(KernelContext& c) { skip_layer_norm(c, false); }

void check_skip_layer_norm(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  // ONNX Runtime requires the attribute; its default is not part of the specification.
  if (!attributes.has("epsilon")) throw NotSupported("the epsilon attribute is missing");
}

// Per-channel normalizations of [N, C, ...] inputs: statistics per (n, c) or given per channel.
void run_batch_norm(KernelContext& c) {
  const Tensor& x = c.input(0);
  if (x.shape.size() < 2) throw ModelError("BatchNormalization needs rank 2 or more");
  const float epsilon = c.attributes().get_float("epsilon", 1e-5f);
  const std::vector<float> in = read_floats(x, "X");
  const std::vector<float> scale = read_floats(c.input(1), "scale");
  const std::vector<float> bias = read_floats(c.input(2), "B");
  const std::vector<float> mean = read_floats(c.input(3), "input_mean");
  const std::vector<float> variance = read_floats(c.input(4), "input_var");
  const int64_t channels = x.shape[1];
  for (const auto* values : {&scale, &bias, &mean, &variance}) {
    if (static_cast<int64_t>(values->size()) != channels) throw ModelError("parameters must have one value per channel");
  }
  const int64_t inner = product(std::span(x.shape).subspan(2));
  std::vector<float> out(in.size());
  const int64_t planes = x.shape[0] * channels;
  c.pool().parallel_for(planes, grain_for(inner), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const size_t ch = static_cast<size_t>(plane % channels);
      const float factor = scale[ch] / std::sqrt(variance[ch] + epsilon);
      const float shift = bias[ch] - mean[ch] * factor;
      for (int64_t i = plane * inner; i < (plane + 1) * inner; ++i) out[static_cast<size_t>(i)] = in[static_cast<size_t>(i)] * factor + shift;
    }
  });
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, out));
}

void check_batch_norm(const onnx::NodeProto& node, const NodeAttributes& attributes, int) {
  if (attributes.get_int("training_mode", 0) != 0 || node.output_size() > 1) {
    throw NotSupported("training mode (running statistics outputs) is not supported");
  }
  if (attributes.get_int("spatial", 1) != 1) throw NotSupported("spatial = 0 is not supported");
}

// Normalizes groups of channels of [N, C, ...]: one group per channel for InstanceNormalization.
void normalize_channel_groups(KernelContext& c, int64_t groups, bool per_group_parameters) {
  const Tensor& x = c.input(0);
  if (x.shape.size() < 2) throw ModelError("the input needs rank 2 or more");
  const int64_t channels = x.shape[1];
  if (groups <= 0 || channels % groups != 0) throw ModelError(fmt::format("{} channels do not split into {} groups", channels, groups));
  const std::vector<float> in = read_floats(x, "X");
  const std::vector<float> scale = read_floats(c.input(1), "scale");
  const std::vector<float> bias = read_floats(c.input(2), "B");
  const int64_t parameters = per_group_parameters ? groups : channels;
  if (static_cast<int64_t>(scale.size()) != parameters || static_cast<int64_t>(bias.size()) != parameters) {
    throw ModelError(fmt::format("scale and bias must have {} values", parameters));
  }
  const int64_t inner = product(std::span(x.shape).subspan(2));
  const int64_t group_size = channels / groups * inner;
  RowNormalization p;
  p.epsilon = c.attributes().get_float("epsilon", 1e-5f);
  p.columns = group_size;
  std::vector<float> normalized(in.size());
  normalize_rows(p, in.data(), normalized.data(), x.shape[0] * groups, nullptr, nullptr, c.pool());
  for (size_t i = 0; i < normalized.size(); ++i) {
    const int64_t channel = static_cast<int64_t>(i) / inner % channels;
    const size_t j = static_cast<size_t>(per_group_parameters ? channel / (channels / groups) : channel);
    normalized[i] = normalized[i] * scale[j] + bias[j];
  }
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, normalized));
}

void run_instance_norm(KernelContext& c) { normalize_channel_groups(c, c.input(0).shape.at(1), false); }

void run_group_norm(KernelContext& c) {
  // Version 18 has one scale and bias per group, version 21 one per channel.
  normalize_channel_groups(c, c.attributes().require_int("num_groups"), c.version() < 21);
}

void check_group_norm(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  if (attributes.get_int("stash_type", 1) != 1) throw NotSupported("stash_type other than 1 (float32) is not supported");
}

void run_lp_norm(KernelContext& c) {
  const Tensor& x = c.input(0);
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", -1), static_cast<int64_t>(x.shape.size())));
  const int64_t p = c.attributes().get_int("p", 2);
  const int64_t dim = x.shape[axis];
  const int64_t outer = product(std::span(x.shape).first(axis));
  const int64_t inner = product(std::span(x.shape).subspan(axis + 1));
  std::vector<float> values = read_floats(x, "input");
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double norm = 0;
      for (int64_t j = 0; j < dim; ++j) {
        const double v = values[static_cast<size_t>((o * dim + j) * inner + i)];
        norm += p == 1 ? std::abs(v) : v * v;
      }
      if (p == 2) norm = std::sqrt(norm);
      for (int64_t j = 0; j < dim; ++j) {
        float& v = values[static_cast<size_t>((o * dim + j) * inner + i)];
        v = norm == 0 ? 0.0f : static_cast<float>(v / norm);
      }
    }
  }
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, values));
}

void check_lp_norm(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const int64_t p = attributes.get_int("p", 2);
  if (p != 1 && p != 2) throw NotSupported(fmt::format("p = {} is not defined; expected 1 or 2", p));
}

void run_mean_variance_norm(KernelContext& c) {
  const Tensor& x = c.input(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::vector<int64_t> axes = normalize_axes(c.attributes().get_ints("axes", {0, 2, 3}), rank);
  const std::vector<float> in = read_floats(x, "X");
  const std::vector<int64_t> strides = strides_of(x.shape);
  // Statistics per combination of the kept axes.
  std::vector<int64_t> kept_shape = x.shape;
  for (int64_t axis : axes) kept_shape[static_cast<size_t>(axis)] = 1;
  const std::vector<int64_t> kept_strides = strides_of(kept_shape);
  const int64_t groups = product(kept_shape);
  std::vector<double> sums(static_cast<size_t>(groups)), squares(static_cast<size_t>(groups));
  std::vector<int64_t> group_of(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t group = 0;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      if (kept_shape[d] != 1) group += (static_cast<int64_t>(i) / strides[d] % x.shape[d]) * kept_strides[d];
    }
    group_of[i] = group;
    sums[static_cast<size_t>(group)] += in[i];
    squares[static_cast<size_t>(group)] += static_cast<double>(in[i]) * in[i];
  }
  const double count = static_cast<double>(in.size()) / static_cast<double>(groups);
  std::vector<float> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const size_t g = static_cast<size_t>(group_of[i]);
    const double mean = sums[g] / count;
    const double variance = squares[g] / count - mean * mean;
    // The ONNX function body adds 1e-9 to the standard deviation.
    out[i] = static_cast<float>((in[i] - mean) / (std::sqrt(std::max(variance, 0.0)) + 1e-9));
  }
  c.set_output(0, tensor_from_floats(x.dtype, x.shape, out));
}

}  // namespace

void register_normalization_ops(OperatorTable& table) {
  const std::vector<std::string> layer_norm_attributes = {"axis", "epsilon", "stash_type"};
  table.add(make_spec("LayerNormalization", 1, run_layer_norm, layer_norm_attributes, check_stash_type));
  table.add(make_spec("SimplifiedLayerNormalization", 1, run_simplified_layer_norm, layer_norm_attributes,
                      check_stash_type));
  table.add(make_microsoft_spec("SkipSimplifiedLayerNormalization", run_skip_simplified_layer_norm, {"epsilon"},
                           check_skip_layer_norm));
  table.add(make_microsoft_spec("SkipLayerNormalization", run_skip_layer_norm, {"epsilon"}, check_skip_layer_norm));
  // BatchNormalization before 7 has the legacy 'consumed_inputs' and 'is_test' attributes.
  table.add(make_spec("BatchNormalization", 7, run_batch_norm, {"epsilon", "momentum", "spatial", "training_mode"},
                      check_batch_norm));
  table.add(make_spec("InstanceNormalization", 6, run_instance_norm, {"epsilon"}));
  table.add(make_spec("GroupNormalization", 18, run_group_norm, {"epsilon", "num_groups", "stash_type"}, check_group_norm));
  table.add(make_spec("LpNormalization", 1, run_lp_norm, {"axis", "p"}, check_lp_norm));
  table.add(make_spec("MeanVarianceNormalization", 9, run_mean_variance_norm, {"axes"}));
}

}  // namespace onnxquant::eval
