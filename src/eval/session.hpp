// The reference evaluator: runs an ONNX graph on the CPU, node by node.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "eval/tensor.hpp"

namespace onnxquant::eval {

struct ValueDescription {
  std::string name;
  int32_t dtype = 0;
  // -1 for a dimension that is unknown or symbolic; the symbolic name is kept in dim_params.
  std::vector<int64_t> shape;
  std::vector<std::string> dim_params;
  bool has_shape = true;  // false when the model declares no shape, so any rank is accepted
};

struct SessionOptions {
  int threads = 0;  // 0: one per hardware thread
};

class Session {
 public:
  // Prepares `model` for evaluation: resolves every node's operator and reads the initializers. The
  // model must outlive the session, and its external data must be loaded (load_model does). Throws
  // ModelError when the graph cannot be evaluated, listing every node whose operator, version or
  // attribute value is not supported, before anything runs.
  Session(const onnx::ModelProto& model, const SessionOptions& options = {});
  ~Session();

  const std::vector<ValueDescription>& inputs() const;
  const std::vector<ValueDescription>& outputs() const;

  // Runs the graph on `feeds` (one tensor per graph input that has no initializer) and returns
  // every graph output by name. Throws UsageError for a missing, unknown or mistyped feed, and
  // ModelError naming the node when a kernel fails (an index out of range, shapes that do not
  // broadcast). A graph input that has an initializer may be fed to replace it.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace onnxquant::eval
