#include "cli/run_command.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <spdlog/spdlog.h>
#include <sstream>

#include "eval/session.hpp"
#include "io/atomic_file.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"

namespace onnxquant::cli {
namespace fs = std::filesystem;

namespace {

onnx::TensorProto read_tensor_file(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) throw IoError(fmt::format("input file '{}' not found", path.string()));
  if (fs::file_size(path, error) > kProtobufLimitBytes) {
    throw UsageError(fmt::format("input file '{}' is above protobuf's 2 GiB limit", path.string()));
  }
  std::ifstream stream(path, std::ios::binary);
  std::stringstream bytes;
  bytes << stream.rdbuf();
  if (!stream) throw IoError(fmt::format("cannot read '{}'", path.string()));
  onnx::TensorProto tensor;
  if (!tensor.ParseFromString(bytes.str())) {
    throw UsageError(fmt::format("'{}' is not a serialized onnx.TensorProto", path.string()));
  }
  return tensor;
}

// Matches the input files to the session's inputs: by tensor name, then unnamed ones in order.
std::map<std::string, eval::Tensor> read_feeds(const std::vector<std::string>& files,
                                               const std::vector<eval::ValueDescription>& inputs) {
  std::map<std::string, eval::Tensor> feeds;
  std::vector<onnx::TensorProto> unnamed;
  for (const auto& file : files) {
    onnx::TensorProto proto = read_tensor_file(file);
    if (proto.name().empty()) {
      unnamed.push_back(std::move(proto));
      continue;
    }
    if (feeds.count(proto.name()) > 0) {
      throw UsageError(fmt::format("two input files contain the tensor {}", io::quoted_name(proto.name())));
    }
    feeds.emplace(proto.name(), eval::tensor_from_proto(proto));
  }
  size_t next = 0;
  for (const auto& input : inputs) {
    if (feeds.count(input.name) > 0 || next == unnamed.size()) continue;
    feeds.emplace(input.name, eval::tensor_from_proto(unnamed[next++]));
  }
  if (next != unnamed.size()) {
    throw UsageError(fmt::format("{} unnamed input files are left over after every graph input has one",
                                 unnamed.size() - next));
  }
  return feeds;
}

// Writes every output under a temporary name first, so that a failure leaves no output file.
void write_outputs(const fs::path& folder, const std::vector<eval::ValueDescription>& outputs,
                   const std::map<std::string, eval::Tensor>& results) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) throw IoError(fmt::format("cannot create the output folder '{}': {}", folder.string(), error.message()));
  std::vector<std::unique_ptr<io::AtomicFile>> files;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const onnx::TensorProto proto = eval::tensor_to_proto(results.at(outputs[i].name), outputs[i].name);
    std::string bytes;
    if (!proto.SerializeToString(&bytes)) {
      throw IoError(fmt::format("output {} cannot be serialized (above 2 GiB)", io::quoted_name(outputs[i].name)));
    }
    files.push_back(std::make_unique<io::AtomicFile>(folder / fmt::format("output_{}.pb", i)));
    files.back()->write(bytes);
  }
  for (auto& file : files) file->commit();
}

// Runs the session `repeat` more times and prints the median and best wall-clock times.
void print_timing(eval::Session& session, const std::map<std::string, eval::Tensor>& feeds, int repeat) {
  std::vector<double> seconds;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    session.run(feeds);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::cout << fmt::format("run time: median {:.3f} ms, best {:.3f} ms over {} runs\n", seconds[seconds.size() / 2] * 1e3,
                           seconds.front() * 1e3, seconds.size());
}

}  // namespace

int run_model(const RunArguments& arguments) {
  const Model model = load_model(arguments.model);
  const auto prepare_start = std::chrono::steady_clock::now();
  eval::Session session(model.proto, eval::SessionOptions{arguments.threads});
  const std::map<std::string, eval::Tensor> feeds = read_feeds(arguments.inputs, session.inputs());

  const auto run_start = std::chrono::steady_clock::now();
  const std::map<std::string, eval::Tensor> results = session.run(feeds);
  const auto run_end = std::chrono::steady_clock::now();
  spdlog::info("{}: prepared in {:.3f} s, ran in {:.3f} s", arguments.model,
               std::chrono::duration<double>(run_start - prepare_start).count(),
               std::chrono::duration<double>(run_end - run_start).count());

  if (arguments.repeat > 0) print_timing(session, feeds, arguments.repeat);
  if (!arguments.output_dir.empty()) write_outputs(arguments.output_dir, session.outputs(), results);
  for (size_t i = 0; i < session.outputs().size(); ++i) {
    const auto& name = session.outputs()[i].name;
    std::cout << fmt::format("{}\t{}", name, eval::describe(results.at(name)));
    if (!arguments.output_dir.empty()) std::cout << "\t" << (fs::path(arguments.output_dir) / fmt::format("output_{}.pb", i)).string();
    std::cout << "\n";
  }
  return 0;
}

}  // namespace onnxquant::cli
