// `onnxquant run`: evaluates a model with the reference evaluator on tensors read from files.
#pragma once

#include <string>
#include <vector>

namespace onnxquant::cli {

struct RunArguments {
  std::string model;
  // Serialized onnx.TensorProto files. A file whose tensor has a name feeds the graph input of that
  // name; unnamed tensors feed the remaining inputs in graph order.
  std::vector<std::string> inputs;
  // When set, each output i is written there as output_<i>.pb, a TensorProto named after it.
  std::string output_dir;
  int threads = 0;
  // When positive, the model runs this many more times after the first run, and the median and
  // best of those run times are printed.
  int repeat = 0;
};

// Prints one line per output (name, element type, shape, file) and returns the exit code.
int run_model(const RunArguments& arguments);

}  // namespace onnxquant::cli
