// Operators with subgraphs: If, Loop and Scan.
#include <cstring>
#include <fmt/format.h>

#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

bool read_condition(const Tensor& tensor) {
  if (tensor.element_count() != 1) throw ModelError(fmt::format("the condition has {} elements, expected 1", tensor.element_count()));
  return read_double_element(tensor, 0) != 0;
}

void run_if(KernelContext& c) {
  const bool condition = read_condition(c.input(0));
  const onnx::GraphProto& branch = c.attributes().require_graph(condition ? "then_branch" : "else_branch");
  std::vector<Tensor> outputs = c.subgraphs().run(branch, {});
  if (outputs.size() != c.output_count()) {
    throw ModelError(fmt::format("the branch returns {} outputs, the node has {}", outputs.size(), c.output_count()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) c.set_output(i, std::move(outputs[i]));
}

// Stacks equally shaped tensors along a new axis `axis` (0 for Loop).
Tensor stack(const std::vector<Tensor>& parts, int64_t axis, int32_t empty_dtype) {
  if (parts.empty()) return make_tensor(empty_dtype, {0});
  const Tensor& first = parts.front();
  for (const auto& part : parts) {
    if (part.shape != first.shape || part.dtype != first.dtype) {
      throw ModelError("scan outputs of different iterations differ in shape or element type");
    }
  }
  std::vector<int64_t> shape = first.shape;
  axis = normalize_axis(axis, static_cast<int64_t>(shape.size()) + 1);
  shape.insert(shape.begin() + axis, static_cast<int64_t>(parts.size()));
  Tensor result = make_tensor(first.dtype, shape);
  const size_t size = stored_element_size(first.dtype);
  const int64_t outer = product(std::span(first.shape).first(static_cast<size_t>(axis)));
  const size_t inner = static_cast<size_t>(product(std::span(first.shape).subspan(static_cast<size_t>(axis)))) * size;
  const int64_t count = static_cast<int64_t>(parts.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(result.data.data() + (o * count + i) * static_cast<int64_t>(inner),
                  parts[static_cast<size_t>(i)].data.data() + o * static_cast<int64_t>(inner), inner);
    }
  }
  return result;
}

// The element type a subgraph declares for output `index`, for empty scan outputs.
int32_t declared_dtype(const onnx::GraphProto& graph, int index) {
  if (index >= graph.output_size()) return onnx::TensorProto::FLOAT;
  const int32_t dtype = graph.output(index).type().tensor_type().elem_type();
  return dtype != 0 ? dtype : static_cast<int32_t>(onnx::TensorProto::FLOAT);
}

void run_loop(KernelContext& c) {
  const onnx::GraphProto& body = c.attributes().require_graph("body");
  const int64_t trip_limit = c.has_input(0) ? read_int64_scalar(c.input(0), "M") : -1;
  bool condition = c.has_input(1) ? read_condition(c.input(1)) : true;
  std::vector<Tensor> carried;
  for (size_t i = 2; i < c.input_count(); ++i) carried.push_back(c.input(i));
  const size_t carried_count = carried.size();
  const size_t scan_count = c.output_count() - carried_count;
  std::vector<std::vector<Tensor>> scans(scan_count);

  for (int64_t iteration = 0; (trip_limit < 0 || iteration < trip_limit) && condition; ++iteration) {
    std::vector<Tensor> inputs;
    inputs.push_back(make_tensor<int64_t>(onnx::TensorProto::INT64, {}, std::span(&iteration, 1)));
    const bool flag = condition;
    inputs.push_back(make_tensor<bool>(onnx::TensorProto::BOOL, {}, std::span(&flag, 1)));
    for (const auto& value : carried) inputs.push_back(value);
    std::vector<Tensor> outputs = c.subgraphs().run(body, std::move(inputs));
    if (outputs.size() != 1 + carried_count + scan_count) {
      throw ModelError(fmt::format("the body returns {} outputs, expected {}", outputs.size(), 1 + carried_count + scan_count));
    }
    condition = read_condition(outputs[0]);
    for (size_t i = 0; i < carried_count; ++i) carried[i] = std::move(outputs[1 + i]);
    for (size_t i = 0; i < scan_count; ++i) scans[i].push_back(std::move(outputs[1 + carried_count + i]));
  }
  for (size_t i = 0; i < carried_count; ++i) c.set_output(i, std::move(carried[i]));
  for (size_t i = 0; i < scan_count; ++i) {
    c.set_output(carried_count + i, stack(scans[i], 0, declared_dtype(body, static_cast<int>(1 + carried_count + i))));
  }
}

// Scan: the body runs once per slice of the scan inputs along their scan axes, carrying states.
void run_scan(KernelContext& c) {
  const onnx::GraphProto& body = c.attributes().require_graph("body");
  const int64_t scan_inputs = c.attributes().require_int("num_scan_inputs");
  const int64_t state_count = static_cast<int64_t>(c.input_count()) - scan_inputs;
  const int64_t scan_outputs = static_cast<int64_t>(c.output_count()) - state_count;
  if (state_count < 0 || scan_outputs < 0) throw ModelError("num_scan_inputs does not fit the node's inputs and outputs");
  const std::vector<int64_t> input_axes = c.attributes().get_ints("scan_input_axes", std::vector<int64_t>(static_cast<size_t>(scan_inputs), 0));
  const std::vector<int64_t> input_directions = c.attributes().get_ints("scan_input_directions", std::vector<int64_t>(static_cast<size_t>(scan_inputs), 0));
  const std::vector<int64_t> output_axes = c.attributes().get_ints("scan_output_axes", std::vector<int64_t>(static_cast<size_t>(scan_outputs), 0));
  const std::vector<int64_t> output_directions = c.attributes().get_ints("scan_output_directions", std::vector<int64_t>(static_cast<size_t>(scan_outputs), 0));

  std::vector<Tensor> states;
  for (int64_t i = 0; i < state_count; ++i) states.push_back(c.input(static_cast<size_t>(i)));
  int64_t length = -1;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < scan_inputs; ++i) {
    const Tensor& input = c.input(static_cast<size_t>(state_count + i));
    const int64_t axis = normalize_axis(input_axes.at(static_cast<size_t>(i)), static_cast<int64_t>(input.shape.size()));
    axes.push_back(axis);
    if (length >= 0 && input.shape[static_cast<size_t>(axis)] != length) throw ModelError("scan inputs differ in sequence length");
    length = input.shape[static_cast<size_t>(axis)];
  }
  std::vector<std::vector<Tensor>> outputs(static_cast<size_t>(scan_outputs));
  for (int64_t t = 0; t < std::max<int64_t>(length, 0); ++t) {
    std::vector<Tensor> inputs = states;
    for (int64_t i = 0; i < scan_inputs; ++i) {
      const Tensor& input = c.input(static_cast<size_t>(state_count + i));
      const int64_t position = input_directions.at(static_cast<size_t>(i)) != 0 ? length - 1 - t : t;
      // The slice at `position` along the axis, with the axis removed.
      std::vector<int64_t> shape = input.shape;
      const size_t axis = static_cast<size_t>(axes[static_cast<size_t>(i)]);
      std::vector<int64_t> strides = strides_of(input.shape);
      const int64_t base = position * strides[axis];
      shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
      strides.erase(strides.begin() + static_cast<std::ptrdiff_t>(axis));
      Tensor slice = make_tensor(input.dtype, shape);
      strided_copy(input, base, shape, strides, slice, c.pool());
      inputs.push_back(std::move(slice));
    }
    std::vector<Tensor> results = c.subgraphs().run(body, std::move(inputs));
    if (static_cast<int64_t>(results.size()) != state_count + scan_outputs) throw ModelError("the body returns the wrong number of outputs");
    for (int64_t i = 0; i < state_count; ++i) states[static_cast<size_t>(i)] = std::move(results[static_cast<size_t>(i)]);
    for (int64_t i = 0; i < scan_outputs; ++i) outputs[static_cast<size_t>(i)].push_back(std::move(results[static_cast<size_t>(state_count + i)]));
  }
  for (int64_t i = 0; i < state_count; ++i) c.set_output(static_cast<size_t>(i), std::move(states[static_cast<size_t>(i)]));
  for (int64_t i = 0; i < scan_outputs; ++i) {
    auto& parts = outputs[static_cast<size_t>(i)];
    if (output_directions.at(static_cast<size_t>(i)) != 0) std::reverse(parts.begin(), parts.end());
    c.set_output(static_cast<size_t>(state_count + i),
                 stack(parts, output_axes.at(static_cast<size_t>(i)), declared_dtype(body, static_cast<int>(state_count + i))));
  }
}

}  // namespace

void register_control_flow_ops(OperatorTable& table) {
  table.add(make_spec("If", 1, run_if, {"then_branch", "else_branch"}));
  // Loop 1 has the same form as later versions for tensors.
  table.add(make_spec("Loop", 1, run_loop, {"body"}));
  // Scan 8 has a batch axis and a sequence_lens input.
  table.add(make_spec("Scan", 9, run_scan,
                      {"body", "num_scan_inputs", "scan_input_axes", "scan_input_directions", "scan_output_axes",
                       "scan_output_directions"}));
}

}  // namespace onnxquant::eval
