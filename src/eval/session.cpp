#include "eval/session.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <unordered_set>

#include "eval/executor.hpp"
#include "eval/graph_program.hpp"
#include "eval/thread_pool.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Findings listed in one error message; the rest are counted.
constexpr size_t kMaxFindingsInMessage = 20;

ValueDescription describe_value(const onnx::ValueInfoProto& info, std::vector<std::string>& findings) {
  ValueDescription description;
  description.name = info.name();
  if (!info.has_type() || info.type().value_case() == onnx::TypeProto::VALUE_NOT_SET) {
    // An undeclared type accepts any tensor.
    description.has_shape = false;
    return description;
  }
  if (!info.type().has_tensor_type()) {
    findings.push_back(fmt::format("graph input or output {} is not a tensor; the evaluator supports tensors only",
                                   io::quoted_name(info.name())));
    return description;
  }
  const auto& tensor_type = info.type().tensor_type();
  description.dtype = tensor_type.elem_type();
  if (tensor_type.has_shape()) {
    for (const auto& dim : tensor_type.shape().dim()) {
      description.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
      description.dim_params.push_back(dim.has_dim_param() ? dim.dim_param() : "");
    }
  } else {
    description.has_shape = false;
  }
  return description;
}

OpsetVersions read_opsets(const onnx::ModelProto& model) {
  OpsetVersions opsets;
  for (const auto& import : model.opset_import()) {
    const std::string domain = import.domain() == "ai.onnx" ? "" : import.domain();
    opsets[domain] = import.version();
  }
  // IR version 3 models without an import for the default domain used opset 1.
  if (model.opset_import_size() == 0) opsets[""] = 1;
  return opsets;
}

[[noreturn]] void throw_findings(const std::vector<std::string>& findings) {
  std::string message = fmt::format("the evaluator cannot run this model ({} problem{}):", findings.size(),
                                    findings.size() == 1 ? "" : "s");
  for (size_t i = 0; i < findings.size() && i < kMaxFindingsInMessage; ++i) message += "\n  " + findings[i];
  if (findings.size() > kMaxFindingsInMessage) {
    message += fmt::format("\n  and {} more", findings.size() - kMaxFindingsInMessage);
  }
  throw ModelError(message);
}

void check_feed(const ValueDescription& input, const Tensor& feed) {
  if (input.dtype != 0 && feed.dtype != input.dtype) {
    throw UsageError(fmt::format("input {} has element type {}, but the model expects {}", io::quoted_name(input.name),
                                 dtype_name(feed.dtype), dtype_name(input.dtype)));
  }
  const uint64_t size = stored_element_size(feed.dtype);
  if (size == 0 || feed.data.size() != shape_element_count(feed.shape) * size) {
    throw UsageError(fmt::format("input {} ({}) has {} bytes of data, which does not match its shape",
                                 io::quoted_name(input.name), describe(feed), feed.data.size()));
  }
  if (input.has_shape) {
    bool matches = feed.shape.size() == input.shape.size();
    for (size_t i = 0; matches && i < feed.shape.size(); ++i) {
      matches = input.shape[i] < 0 || input.shape[i] == feed.shape[i];
    }
    if (!matches) {
      std::vector<std::string> dims;
      for (size_t i = 0; i < input.shape.size(); ++i) {
        dims.push_back(input.shape[i] >= 0 ? std::to_string(input.shape[i])
                                           : (input.dim_params[i].empty() ? "?" : input.dim_params[i]));
      }
      throw UsageError(fmt::format("input {} has shape {}, but the model expects [{}]", io::quoted_name(input.name),
                                   io::format_shape(feed.shape), fmt::join(dims, ", ")));
    }
  }
  if (feed.dtype == onnx::TensorProto::BOOL) {
    for (uint8_t byte : feed.values<uint8_t>()) {
      if (byte > 1) throw UsageError(fmt::format("bool input {} contains a byte other than 0 or 1", io::quoted_name(input.name)));
    }
  }
}

}  // namespace

struct Session::State {
  State(const onnx::ModelProto& model, int threads) : pool(threads) {
    std::vector<std::string> findings;
    program = std::make_unique<GraphProgram>(model.graph(), read_opsets(model), std::unordered_map<std::string, int>{},
                                             findings);
    std::unordered_set<std::string> initializers;
    for (const auto& initializer : model.graph().initializer()) initializers.insert(initializer.name());
    for (const auto& input : model.graph().input()) {
      ValueDescription description = describe_value(input, findings);
      if (initializers.count(input.name()) > 0) {
        overridable.push_back(std::move(description));
      } else {
        inputs.push_back(std::move(description));
      }
    }
    for (const auto& output : model.graph().output()) outputs.push_back(describe_value(output, findings));
    if (!findings.empty()) throw_findings(findings);
  }

  ThreadPool pool;
  std::unique_ptr<GraphProgram> program;
  std::vector<ValueDescription> inputs;
  // Graph inputs with an initializer: a feed may replace the initializer.
  std::vector<ValueDescription> overridable;
  std::vector<ValueDescription> outputs;
};

Session::Session(const onnx::ModelProto& model, const SessionOptions& options)
    : state_(std::make_unique<State>(model, options.threads)) {}

Session::~Session() = default;

const std::vector<ValueDescription>& Session::inputs() const { return state_->inputs; }
const std::vector<ValueDescription>& Session::outputs() const { return state_->outputs; }

std::map<std::string, Tensor> Session::run(const std::map<std::string, Tensor>& feeds) {
  const GraphProgram& program = *state_->program;
  Frame frame(program, nullptr);
  auto bind = [&](const ValueDescription& input, const Tensor& feed) {
    check_feed(input, feed);
    // The feeds outlive the run, so the frame refers to them without owning them.
    frame.values[static_cast<size_t>(program.find_slot(input.name))] = Value(std::shared_ptr<void>(), &feed);
  };
  auto declared = [](const std::vector<ValueDescription>& list, const std::string& name) {
    return std::any_of(list.begin(), list.end(), [&](const ValueDescription& input) { return input.name == name; });
  };
  for (const auto& [name, tensor] : feeds) {
    if (!declared(state_->inputs, name) && !declared(state_->overridable, name)) {
      throw UsageError(fmt::format("the model has no input {}", io::quoted_name(name)));
    }
  }
  for (const auto& input : state_->inputs) {
    const auto feed = feeds.find(input.name);
    if (feed == feeds.end()) throw UsageError(fmt::format("input {} is missing", io::quoted_name(input.name)));
    bind(input, feed->second);
  }
  for (const auto& input : state_->overridable) {
    const auto feed = feeds.find(input.name);
    if (feed != feeds.end()) bind(input, feed->second);
  }

  Executor executor(state_->pool);
  executor.execute(frame);
  std::map<std::string, Tensor> results;
  for (size_t i = 0; i < program.output_slots().size(); ++i) {
    const Value& value = frame.values[static_cast<size_t>(program.output_slots()[i])];
    if (!value) throw ModelError(fmt::format("graph output {} was not computed", io::quoted_name(state_->outputs[i].name)));
    // A value that only the frame refers to was made by a kernel, so it is moved. Feeds and
    // constants have other owners and are copied.
    if (value.use_count() == 1) {
      results.emplace(state_->outputs[i].name, std::move(*const_cast<Tensor*>(value.get())));
    } else {
      results.emplace(state_->outputs[i].name, *value);
    }
  }
  return results;
}

}  // namespace onnxquant::eval
