#include "eval/executor.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "graph/node_order.hpp"
#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

Value Frame::find_outer(const std::string& name) const {
  for (const Frame* frame = parent; frame != nullptr; frame = frame->parent) {
    const int slot = frame->program.find_slot(name);
    if (slot >= 0 && frame->values[static_cast<size_t>(slot)]) return frame->values[static_cast<size_t>(slot)];
  }
  return nullptr;
}

void Executor::execute(Frame& frame) {
  for (const auto& [slot, tensor] : frame.program.constants()) {
    // A fed graph input overrides the initializer of the same name.
    if (!frame.values[static_cast<size_t>(slot)]) frame.values[static_cast<size_t>(slot)] = tensor;
  }
  for (int slot : frame.program.outer_slots()) {
    const std::string& name = frame.program.slot_name(slot);
    Value value = frame.find_outer(name);
    if (!value) throw ModelError(fmt::format("the value {} of an enclosing graph is not available", io::quoted_name(name)));
    frame.values[static_cast<size_t>(slot)] = std::move(value);
  }

  Frame* saved = current_;
  current_ = &frame;
  try {
    for (const auto& step : frame.program.steps()) run_step(frame, step);
  } catch (...) {
    current_ = saved;
    throw;
  }
  current_ = saved;
}

void Executor::run_step(Frame& frame, const NodeStep& step) {
  std::vector<const Tensor*> inputs;
  inputs.reserve(step.inputs.size());
  for (size_t i = 0; i < step.inputs.size(); ++i) {
    const int slot = step.inputs[i];
    if (slot < 0) {
      inputs.push_back(nullptr);
      continue;
    }
    const Value& value = frame.values[static_cast<size_t>(slot)];
    if (!value) {
      throw ModelError(fmt::format("{}: input {} has no value", graph::describe_node(*step.node),
                                   io::quoted_name(frame.program.slot_name(slot))));
    }
    inputs.push_back(value.get());
  }

  // Inputs that this step reads last and that no other owner shares may be moved by the kernel.
  // Only tensors that kernels produced can be sole owners: feeds are held without ownership and
  // constants by the program as well.
  std::vector<Tensor*> owned(step.inputs.size(), nullptr);
  for (size_t i = 0; i < step.inputs.size(); ++i) {
    const int slot = step.inputs[i];
    if (slot < 0 || frame.values[static_cast<size_t>(slot)].use_count() != 1) continue;
    const bool last_read = std::find(step.release.begin(), step.release.end(), slot) != step.release.end();
    const bool read_once = std::count(step.inputs.begin(), step.inputs.end(), slot) == 1;
    if (last_read && read_once) owned[i] = const_cast<Tensor*>(frame.values[static_cast<size_t>(slot)].get());
  }

  std::vector<Tensor> outputs(step.outputs.size());
  KernelContext context(*step.node, step.version, inputs, owned, outputs, pool_, *this);
  try {
    step.spec->run(context);
  } catch (const NotSupported& error) {
    throw NotSupported(fmt::format("{}: {}", graph::describe_node(*step.node), error.what()));
  } catch (const Error& error) {
    throw ModelError(fmt::format("{}: {}", graph::describe_node(*step.node), error.what()));
  }

  for (size_t i = 0; i < step.outputs.size(); ++i) {
    const int slot = step.outputs[i];
    if (slot < 0) continue;
    if (outputs[i].dtype == 0) {
      throw std::logic_error(fmt::format("{}: the kernel produced no output {}", graph::describe_node(*step.node), i));
    }
    // Created as a non-const Tensor, so that a later sole reader may move it (see `owned` above).
    frame.values[static_cast<size_t>(slot)] = std::make_shared<Tensor>(std::move(outputs[i]));
  }
  for (int slot : step.release) frame.values[static_cast<size_t>(slot)].reset();
}

std::vector<Tensor> Executor::run(const onnx::GraphProto& graph, std::vector<Tensor> inputs) {
  if (current_ == nullptr) throw std::logic_error("a subgraph runs outside of a graph");
  const GraphProgram& program = current_->program.subprogram(graph);
  if (inputs.size() != program.input_slots().size()) {
    throw ModelError(fmt::format("subgraph {} declares {} inputs but receives {}", io::quoted_name(graph.name()),
                                 program.input_slots().size(), inputs.size()));
  }
  Frame frame(program, current_);
  for (size_t i = 0; i < inputs.size(); ++i) {
    frame.values[static_cast<size_t>(program.input_slots()[i])] = std::make_shared<Tensor>(std::move(inputs[i]));
  }
  execute(frame);
  std::vector<Tensor> outputs;
  outputs.reserve(program.output_slots().size());
  for (int slot : program.output_slots()) outputs.push_back(*frame.values[static_cast<size_t>(slot)]);
  return outputs;
}

}  // namespace onnxquant::eval
