// Runs prepared graphs: binds values to slots, calls each node's kernel and frees dead values.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "eval/graph_program.hpp"
#include "eval/kernel.hpp"
#include "eval/thread_pool.hpp"

namespace onnxquant::eval {

using Value = std::shared_ptr<const Tensor>;

// The values of one running graph. Subgraph frames read the values of enclosing frames by name.
struct Frame {
  Frame(const GraphProgram& program, const Frame* parent)
      : program(program), parent(parent), values(program.slot_count()) {}

  // The value of `name` in an enclosing frame, or nullptr.
  Value find_outer(const std::string& name) const;

  const GraphProgram& program;
  const Frame* parent;
  std::vector<Value> values;
};

class Executor : public SubgraphRunner {
 public:
  explicit Executor(ThreadPool& pool) : pool_(pool) {}

  // Binds the constants and the values read from enclosing frames, runs every step and leaves the
  // graph outputs in their slots. Input slots must be set before.
  void execute(Frame& frame);

  std::vector<Tensor> run(const onnx::GraphProto& graph, std::vector<Tensor> inputs) override;

 private:
  void run_step(Frame& frame, const NodeStep& step);

  ThreadPool& pool_;
  Frame* current_ = nullptr;
};

}  // namespace onnxquant::eval
