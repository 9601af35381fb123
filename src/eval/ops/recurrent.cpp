// Recurrent layers: LSTM, GRU and RNN, in the forward, reverse and bidirectional directions.
#include <cmath>
#include <fmt/format.h>

#include "eval/gemm.hpp"
#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

enum class Cell { kLstm, kGru, kRnn };

// One activation function of the 'activations' attribute with its alpha and beta.
struct Activation {
  std::string name;
  float alpha = 0;
  float beta = 0;

  float operator()(float x) const {
    if (name == "Sigmoid") return 1.0f / (1.0f + std::exp(-x));
    if (name == "Tanh") return std::tanh(x);
    if (name == "Relu") return std::max(0.0f, x);
    if (name == "HardSigmoid") return std::clamp(alpha * x + beta, 0.0f, 1.0f);
    if (name == "LeakyRelu") return x >= 0 ? x : alpha * x;
    if (name == "ThresholdedRelu") return x > alpha ? x : 0.0f;
    if (name == "ScaledTanh") return alpha * std::tanh(beta * x);
    if (name == "Affine") return alpha * x + beta;
    if (name == "Elu") return x >= 0 ? x : alpha * (std::exp(x) - 1.0f);
    if (name == "Softsign") return x / (1.0f + std::abs(x));
    return std::log1p(std::exp(x));  // Softplus
  }
};

// Default alpha and beta of the activations that take them, from the ONNX operator specifications.
bool activation_defaults(const std::string& name, int& parameters, float& alpha, float& beta) {
  parameters = 0;
  alpha = beta = 0;
  if (name == "Sigmoid" || name == "Tanh" || name == "Relu" || name == "Softsign" || name == "Softplus") return true;
  if (name == "HardSigmoid") return parameters = 2, alpha = 0.2f, beta = 0.5f, true;
  if (name == "LeakyRelu") return parameters = 1, alpha = 0.01f, true;
  if (name == "ThresholdedRelu" || name == "Elu") return parameters = 1, alpha = 1.0f, true;
  if (name == "ScaledTanh" || name == "Affine") return parameters = 2, alpha = 1.0f, beta = 1.0f, true;
  return false;
}

std::vector<Activation> read_activations(const NodeAttributes& attributes, Cell cell, int directions) {
  std::vector<std::string> names = attributes.get_strings("activations");
  if (names.empty()) {
    const std::vector<std::string> defaults = cell == Cell::kLstm  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                              : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                   : std::vector<std::string>{"Tanh"};
    for (int d = 0; d < directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  }
  const std::vector<float> alphas = attributes.get_floats("activation_alpha");
  const std::vector<float> betas = attributes.get_floats("activation_beta");
  std::vector<Activation> activations;
  size_t next_alpha = 0, next_beta = 0;
  for (const auto& name : names) {
    Activation activation{name};
    int parameters = 0;
    if (!activation_defaults(name, parameters, activation.alpha, activation.beta)) {
      throw NotSupported(fmt::format("activation '{}' is not supported", name));
    }
    // Alphas and betas are consumed in the order of the activations that take them.
    if (parameters >= 1 && next_alpha < alphas.size()) activation.alpha = alphas[next_alpha++];
    if (parameters >= 2 && next_beta < betas.size()) activation.beta = betas[next_beta++];
    activations.push_back(activation);
  }
  return activations;
}

// The values one step of one batch entry reads: X * W^T and H * R^T of all gates, the biases and
// the previous hidden state.
struct StepInputs {
  const float* projected;  // X * W^T, [gates * hidden]
  const float* recurrent;  // H * R^T, [gates * hidden]
  const float* w_bias;
  const float* r_bias;
  const float* h;  // [hidden]
  int64_t hidden;
  float clip;

  float clipped(float v) const { return clip > 0 ? std::clamp(v, -clip, clip) : v; }
  // The pre-activation of gate `gate` for unit j.
  float pre(int gate, int64_t j) const {
    const int64_t k = gate * hidden + j;
    return projected[k] + recurrent[k] + w_bias[k] + r_bias[k];
  }
};

// LSTM with gate order i, o, f, c and optional peepholes [Pi, Po, Pf]; updates the cell state.
void lstm_step(const StepInputs& in, const Activation* f, const float* peepholes, bool input_forget, float* cell,
               float* next) {
  const int64_t hidden = in.hidden;
  for (int64_t j = 0; j < hidden; ++j) {
    const float peep_i = peepholes != nullptr ? peepholes[j] * cell[j] : 0.0f;
    const float peep_f = peepholes != nullptr ? peepholes[2 * hidden + j] * cell[j] : 0.0f;
    const float i_gate = f[0](in.clipped(in.pre(0, j) + peep_i));
    const float f_gate = input_forget ? 1.0f - i_gate : f[0](in.clipped(in.pre(2, j) + peep_f));
    const float candidate = f[1](in.clipped(in.pre(3, j)));
    const float cell_value = f_gate * cell[j] + i_gate * candidate;
    const float peep_o = peepholes != nullptr ? peepholes[hidden + j] * cell_value : 0.0f;
    const float o_gate = f[0](in.clipped(in.pre(1, j) + peep_o));
    cell[j] = cell_value;
    next[j] = o_gate * f[2](cell_value);
  }
}

// GRU with gate order z, r, h. Without linear_before_reset the hidden gate multiplies Rh by
// (r * H), which needs every r first; `rh` is Rh [hidden, hidden].
void gru_step(const StepInputs& in, const Activation* f, const float* rh, bool linear_before_reset, float* next) {
  const int64_t hidden = in.hidden;
  std::vector<float> z(static_cast<size_t>(hidden)), reset_h(static_cast<size_t>(hidden));
  std::vector<float> reset(static_cast<size_t>(hidden));
  for (int64_t j = 0; j < hidden; ++j) {
    z[static_cast<size_t>(j)] = f[0](in.clipped(in.pre(0, j)));
    reset[static_cast<size_t>(j)] = f[0](in.clipped(in.pre(1, j)));
    reset_h[static_cast<size_t>(j)] = reset[static_cast<size_t>(j)] * in.h[j];
  }
  for (int64_t j = 0; j < hidden; ++j) {
    const int64_t k = 2 * hidden + j;
    float candidate = in.projected[k] + in.w_bias[k];
    if (linear_before_reset) {
      candidate += reset[static_cast<size_t>(j)] * (in.recurrent[k] + in.r_bias[k]);
    } else {
      float dot = 0;
      for (int64_t m = 0; m < hidden; ++m) dot += reset_h[static_cast<size_t>(m)] * rh[j * hidden + m];
      candidate += dot + in.r_bias[k];
    }
    const float zj = z[static_cast<size_t>(j)];
    next[j] = (1.0f - zj) * f[1](in.clipped(candidate)) + zj * in.h[j];
  }
}

struct RecurrentShapes {
  int64_t sequence = 0, batch = 0, input_size = 0, hidden = 0, directions = 1, gates = 1;
  bool batch_first = false;
};

// Reorders X from [batch, sequence, input] to [sequence, batch, input] when layout is 1.
std::vector<float> time_major(const std::vector<float>& x, const RecurrentShapes& s) {
  if (!s.batch_first) return x;
  std::vector<float> result(x.size());
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t t = 0; t < s.sequence; ++t) {
      std::copy_n(x.data() + (b * s.sequence + t) * s.input_size, s.input_size, result.data() + (t * s.batch + b) * s.input_size);
    }
  }
  return result;
}

// The inputs and attributes of one LSTM, GRU or RNN node, as float32.
struct RecurrentLayer {
  RecurrentShapes s;
  std::string direction;
  std::vector<Activation> activations;  // per direction, in order
  float clip = 0;
  bool input_forget = false;
  bool linear_before_reset = false;
  std::vector<float> x;  // [sequence, batch, input]
  std::vector<float> w, r, bias, peepholes;
  std::vector<int64_t> lengths;
  std::vector<float> h_state, c_state;  // [directions, batch, hidden]

  int64_t width() const { return s.gates * s.hidden; }
};

RecurrentLayer read_layer(KernelContext& c, Cell cell) {
  const Tensor& x_tensor = c.input(0);
  const Tensor& w_tensor = c.input(1);
  if (x_tensor.shape.size() != 3 || w_tensor.shape.size() != 3) throw ModelError("X and W must be three-dimensional");
  RecurrentLayer layer;
  RecurrentShapes& s = layer.s;
  s.batch_first = c.attributes().get_int("layout", 0) != 0;
  s.sequence = x_tensor.shape[s.batch_first ? 1 : 0];
  s.batch = x_tensor.shape[s.batch_first ? 0 : 1];
  s.input_size = x_tensor.shape[2];
  s.gates = 1;
  if (cell == Cell::kLstm) s.gates = 4;
  if (cell == Cell::kGru) s.gates = 3;
  layer.direction = c.attributes().get_string("direction", "forward");
  s.directions = layer.direction == "bidirectional" ? 2 : 1;
  s.hidden = c.attributes().get_int("hidden_size", w_tensor.shape[1] / s.gates);
  const int64_t width = layer.width();
  if (w_tensor.shape != std::vector<int64_t>{s.directions, width, s.input_size}) {
    throw ModelError(fmt::format("W has shape {}, expected [{}, {}, {}]", shape_text(w_tensor.shape), s.directions, width,
                                 s.input_size));
  }
  layer.activations = read_activations(c.attributes(), cell, static_cast<int>(s.directions));
  layer.clip = c.attributes().get_float("clip", 0.0f);
  layer.input_forget = c.attributes().get_int("input_forget", 0) != 0;
  layer.linear_before_reset = c.attributes().get_int("linear_before_reset", 0) != 0;

  layer.x = time_major(read_floats(x_tensor, "X"), s);
  layer.w = read_floats(w_tensor, "W");
  layer.r = read_floats(c.input(2), "R");
  layer.bias = c.has_input(3) ? read_floats(c.input(3), "B") : std::vector<float>(static_cast<size_t>(s.directions * 2 * width));
  if (static_cast<int64_t>(layer.r.size()) != s.directions * width * s.hidden ||
      static_cast<int64_t>(layer.bias.size()) != s.directions * 2 * width) {
    throw ModelError("R or B has the wrong size");
  }
  layer.lengths.assign(static_cast<size_t>(s.batch), s.sequence);
  if (c.has_input(4)) layer.lengths = read_int64s(c.input(4), "sequence_lens");

  auto state = [&](size_t index) {
    const size_t size = static_cast<size_t>(s.directions * s.batch * s.hidden);
    std::vector<float> values = c.has_input(index) ? read_floats(c.input(index), "initial state") : std::vector<float>(size);
    if (values.size() != size) throw ModelError("an initial state has the wrong size");
    return values;
  };
  layer.h_state = state(5);
  if (cell == Cell::kLstm) {
    layer.c_state = state(6);
    if (c.has_input(7)) layer.peepholes = read_floats(c.input(7), "P");
  }
  return layer;
}

// Runs direction d over the sequence, updating the states and writing Y [sequence, directions, batch, hidden].
template <Cell cell>
void run_direction(RecurrentLayer& layer, int64_t d, std::vector<float>& y, ThreadPool& pool) {
  const RecurrentShapes& s = layer.s;
  const int64_t width = layer.width();
  const bool reverse = layer.direction == "reverse" || d == 1;
  const Activation* f = &layer.activations[static_cast<size_t>(d) * (layer.activations.size() / static_cast<size_t>(s.directions))];
  const float* wd = layer.w.data() + d * width * s.input_size;
  const float* rd = layer.r.data() + d * width * s.hidden;
  const float* wb = layer.bias.data() + d * 2 * width;
  const float* rb = wb + width;
  const float* pd = layer.peepholes.empty() ? nullptr : layer.peepholes.data() + d * 3 * s.hidden;
  float* h = layer.h_state.data() + d * s.batch * s.hidden;
  float* cs = cell == Cell::kLstm ? layer.c_state.data() + d * s.batch * s.hidden : nullptr;

  // X * W^T for every step at once: [sequence * batch, gates * hidden].
  std::vector<float> projected(static_cast<size_t>(s.sequence * s.batch * width));
  gemm<float>(packed_gemm_shape(s.sequence * s.batch, width, s.input_size, false, true), 1.0f, layer.x.data(), wd, 0.0f,
              projected.data(), pool);
  std::vector<float> recurrent(static_cast<size_t>(s.batch * width));
  std::vector<float> next(static_cast<size_t>(s.hidden));
  for (int64_t step = 0; step < s.sequence; ++step) {
    // H * R^T for all gates; without linear_before_reset, GRU's hidden gate recomputes its part.
    gemm<float>(packed_gemm_shape(s.batch, width, s.hidden, false, true), 1.0f, h, rd, 0.0f, recurrent.data(), pool);
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t length = layer.lengths[static_cast<size_t>(b)];
      if (step >= length) continue;
      const int64_t t = reverse ? length - 1 - step : step;
      float* hb = h + b * s.hidden;
      const StepInputs in{projected.data() + (t * s.batch + b) * width, recurrent.data() + b * width, wb, rb, hb, s.hidden,
                          layer.clip};
      if constexpr (cell == Cell::kLstm) {
        lstm_step(in, f, pd, layer.input_forget, cs + b * s.hidden, next.data());
      } else if constexpr (cell == Cell::kGru) {
        gru_step(in, f, rd + 2 * s.hidden * s.hidden, layer.linear_before_reset, next.data());
      } else {
        for (int64_t j = 0; j < s.hidden; ++j) next[static_cast<size_t>(j)] = f[0](in.clipped(in.pre(0, j)));
      }
      std::copy(next.begin(), next.end(), hb);
      std::copy(next.begin(), next.end(), y.data() + ((t * s.directions + d) * s.batch + b) * s.hidden);
    }
  }
}

// Moves the batch axis first: [a, batch, ...] to [batch, a, ...] for `outer` leading entries of
// `inner` values each, when layout is 1.
std::vector<float> batch_first(const std::vector<float>& values, int64_t outer, int64_t batch, int64_t inner) {
  std::vector<float> result(values.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t b = 0; b < batch; ++b) {
      std::copy_n(values.data() + (o * batch + b) * inner, inner, result.data() + (b * outer + o) * inner);
    }
  }
  return result;
}

template <Cell cell>
void run_recurrent(KernelContext& c) {
  RecurrentLayer layer = read_layer(c, cell);
  const RecurrentShapes& s = layer.s;
  std::vector<float> y(static_cast<size_t>(s.sequence * s.directions * s.batch * s.hidden), 0.0f);
  for (int64_t d = 0; d < s.directions; ++d) run_direction<cell>(layer, d, y, c.pool());

  // Y is [sequence, directions, batch, hidden], or [batch, sequence, directions, hidden] with layout 1;
  // the states are [directions, batch, hidden], or [batch, directions, hidden].
  const int32_t dtype = c.input(0).dtype;
  if (c.wants_output(0)) {
    if (s.batch_first) {
      c.set_output(0, tensor_from_floats(dtype, {s.batch, s.sequence, s.directions, s.hidden},
                                         batch_first(y, s.sequence * s.directions, s.batch, s.hidden)));
    } else {
      c.set_output(0, tensor_from_floats(dtype, {s.sequence, s.directions, s.batch, s.hidden}, y));
    }
  }
  auto state_output = [&](size_t index, const std::vector<float>& values) {
    if (!c.wants_output(index)) return;
    if (s.batch_first) {
      c.set_output(index, tensor_from_floats(dtype, {s.batch, s.directions, s.hidden},
                                             batch_first(values, s.directions, s.batch, s.hidden)));
    } else {
      c.set_output(index, tensor_from_floats(dtype, {s.directions, s.batch, s.hidden}, values));
    }
  };
  state_output(1, layer.h_state);
  if (cell == Cell::kLstm) state_output(2, layer.c_state);
}

void check_recurrent(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const std::string direction = attributes.get_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") {
    throw NotSupported(fmt::format("direction '{}' is not defined", direction));
  }
  if (!attributes.has("hidden_size")) throw ModelError("the required attribute 'hidden_size' is missing");
  for (const auto& name : attributes.get_strings("activations")) {
    int parameters = 0;
    float alpha = 0, beta = 0;
    if (!activation_defaults(name, parameters, alpha, beta)) throw NotSupported(fmt::format("activation '{}' is not supported", name));
  }
}

}  // namespace

void register_recurrent_ops(OperatorTable& table) {
  const std::vector<std::string> common = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                           "hidden_size", "layout"};
  std::vector<std::string> lstm = common;
  lstm.push_back("input_forget");
  std::vector<std::string> gru = common;
  gru.push_back("linear_before_reset");
  // Version 1 of each has an output_sequence attribute; GRU 1 and 2 lack linear_before_reset.
  table.add(make_spec("LSTM", 7, run_recurrent<Cell::kLstm>, lstm, check_recurrent));
  table.add(make_spec("GRU", 7, run_recurrent<Cell::kGru>, gru, check_recurrent));
  table.add(make_spec("RNN", 7, run_recurrent<Cell::kRnn>, common, check_recurrent));
}

}  // namespace onnxquant::eval
