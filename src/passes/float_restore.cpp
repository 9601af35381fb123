#include "passes/float_restore.hpp"

#include <fmt/format.h>
#include <map>
#include <optional>
#include <spdlog/spdlog.h>

#include "graph/graph_walk.hpp"
#include "graph/names.hpp"
#include "graph/opset.hpp"
#include "graph/value_types.hpp"
#include "graph/weights.hpp"
#include "io/external_data.hpp"
#include "io/tensor_data.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/float16.hpp"
#include "kernels/parallel.hpp"
#include "passes/candidates.hpp"
#include "passes/graph_edits.hpp"
#include "passes/pass_context.hpp"

namespace onnxquant::passes {
namespace {

using onnx::TensorProto;
// Element types that ONNX 1.12's TensorProto enumeration does not name yet.
constexpr int32_t kUint4 = 21;
constexpr int32_t kInt4 = 22;

std::optional<kernels::CodeType> code_type(int32_t data_type) {
  switch (data_type) {
    case TensorProto::INT8: return kernels::CodeType::kInt8;
    case TensorProto::UINT8: return kernels::CodeType::kUint8;
    case TensorProto::INT32: return kernels::CodeType::kInt32;
    case kInt4: return kernels::CodeType::kInt4;
    case kUint4: return kernels::CodeType::kUint4;
    default: return std::nullopt;
  }
}

std::string code_type_name(int32_t data_type) {
  if (data_type == kInt4) return "int4";
  if (data_type == kUint4) return "uint4";
  return io::dtype_name(data_type);
}

uint64_t stored_bytes(const TensorProto& tensor) {
  if (tensor.has_raw_data()) return tensor.raw_data().size();
  if (io::is_external(tensor)) {
    const io::ExternalDataLocation location = io::parse_external_data(tensor);
    if (location.has_length) return location.length;
  }
  return io::tensor_bytes(tensor);
}

int64_t int_attribute(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == name) return attribute.i();
  }
  return fallback;
}

bool is_default_domain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

class Float32Restorer {
 public:
  Float32Restorer(onnx::ModelProto& model, io::TensorStore& store, int threads, Report& report)
      : model_(model), store_(store), threads_(threads), report_(report), names_(model) {}

  void run() {
    fold_quantized_weights();
    upcast_tensors();
    upcast_declarations();
    remove_identity_casts();
  }

 private:
  // Index of weights by name, rebuilt before each structural step.
  void index() {
    weights_ = graph::index_weights(model_);
    by_name_.clear();
    for (auto& weight : weights_) by_name_[weight.name] = &weight;
  }

  graph::Weight* weight(const std::string& name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }

  void fold_quantized_weights() {
    index();
    GraphEdits edits(&store_);
    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
      for (auto& node : *graph.mutable_node()) {
        if (node.op_type() == "DequantizeLinear" && is_default_domain(node)) fold_dequantize(graph, node, edits);
        if (node.op_type() == "MatMulNBits" && node.domain() == graph::kMicrosoftDomain) fold_matmul_nbits(node, edits);
        if (node.op_type() == "GatherBlockQuantized" && node.domain() == graph::kMicrosoftDomain) {
          fold_gather_block_quantized(node, edits);
        }
      }
    });
    edits.apply();
  }

  // The float32 values of a float tensor, or nothing for other types.
  std::optional<std::vector<float>> float_values(const TensorProto* tensor) const {
    if (tensor == nullptr || !io::is_float_type(tensor->data_type())) return std::nullopt;
    return io::read_float_values(*tensor, store_);
  }

  void remove_if_unused_elsewhere(graph::Weight* input, const onnx::NodeProto& node, GraphEdits& edits) {
    if (input == nullptr) return;
    for (const auto& use : input->uses) {
      if (use.node != &node) return;
    }
    edits.remove_definition(*input);
  }

  void fold_dequantize(onnx::GraphProto& graph, onnx::NodeProto& node, GraphEdits& edits) {
    graph::Weight* data = weight(node.input(0));
    graph::Weight* scale = node.input_size() > 1 ? weight(node.input(1)) : nullptr;
    graph::Weight* zero_point = node.input_size() > 2 && !node.input(2).empty() ? weight(node.input(2)) : nullptr;
    const bool has_zero_point = node.input_size() > 2 && !node.input(2).empty();
    if (data == nullptr || scale == nullptr || (has_zero_point && zero_point == nullptr)) return;
    const auto type = code_type(data->tensor->data_type());
    const auto scales = float_values(scale->tensor);
    if (!type || !scales) return;
    if (!data->tensor->has_raw_data() && !io::is_external(*data->tensor)) {
      report_.notes.push_back(fmt::format("DequantizeLinear node '{}' stays: its data '{}' is not stored as raw_data",
                                          node.name(), data->name));
      spdlog::warn("{}", report_.notes.back());
      return;
    }
    const auto zero_point_type = zero_point ? code_type(zero_point->tensor->data_type()) : type;
    if (!zero_point_type) return;

    const std::vector<int64_t> dims = io::dims_of(*data->tensor);
    int64_t axis = scales->size() == 1 ? 0 : int_attribute(node, "axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(dims.size());
    const int64_t count = static_cast<int64_t>(io::element_count(*data->tensor));
    const io::TensorBytes codes = store_.bytes(*data->tensor);
    const io::TensorBytes zero_points = zero_point ? store_.bytes(*zero_point->tensor) : io::TensorBytes();
    const std::vector<float> values =
        kernels::dequantize_codes(codes.span(), *type, count, *scales, zero_points.span(), *zero_point_type, dims,
                                  axis, int_attribute(node, "block_size", 0), threads_);

    TensorReport entry = restore_entry(node.output(0), *data, values.size());
    entry.bytes_before += stored_bytes(*scale->tensor) + (zero_point ? stored_bytes(*zero_point->tensor) : 0);
    report_.tensors.push_back(std::move(entry));

    edits.add_initializer(graph, io::make_float_tensor(node.output(0), dims, values));
    edits.remove_node(graph, node);
    for (graph::Weight* input : {data, scale, zero_point}) remove_if_unused_elsewhere(input, node, edits);
  }

  void fold_matmul_nbits(onnx::NodeProto& node, GraphEdits& edits) {
    const int64_t k = int_attribute(node, "K", 0);
    const int64_t n = int_attribute(node, "N", 0);
    const int64_t bits = int_attribute(node, "bits", 4);
    const int64_t block_size = int_attribute(node, "block_size", 0);
    graph::Weight* packed = weight(node.input(1));
    graph::Weight* scale = weight(node.input(2));
    graph::Weight* zero_point = node.input_size() > 3 && !node.input(3).empty() ? weight(node.input(3)) : nullptr;
    const bool extra_inputs = node.input_size() > 4;
    if (packed == nullptr || scale == nullptr || (bits != 4 && bits != 8) || block_size <= 0 || extra_inputs ||
        (node.input_size() > 3 && !node.input(3).empty() &&
         (zero_point == nullptr || zero_point->tensor->data_type() != TensorProto::UINT8))) {
      report_.notes.push_back(fmt::format("MatMulNBits node '{}' stays quantized: only bits 4 or 8 with constant B, "
                                          "scales and uint8 zero points, without g_idx or bias, are restored",
                                          node.name()));
      spdlog::warn("{}", report_.notes.back());
      return;
    }

    auto restored = restored_weights_.find(packed->name);
    if (restored == restored_weights_.end()) {
      const std::vector<float> values = dequantize_matmul_nbits(*packed, *scale, zero_point, k, n, bits, block_size);
      const std::string name = names_.allocate(original_name(packed->name));
      TensorReport entry = restore_entry(name, *packed, values.size());
      entry.bytes_before += stored_bytes(*scale->tensor) + (zero_point ? stored_bytes(*zero_point->tensor) : 0);
      entry.shape = {k, n};
      report_.tensors.push_back(std::move(entry));
      edits.add_initializer(*packed->graph, io::make_float_tensor(name, {k, n}, values));
      restored = restored_weights_.emplace(packed->name, name).first;
    }

    const std::string a = node.input(0);
    for (graph::Weight* input : {packed, scale, zero_point}) remove_if_unused_elsewhere(input, node, edits);
    node.set_op_type("MatMul");
    node.clear_domain();
    node.clear_attribute();
    node.clear_input();
    node.add_input(a);
    node.add_input(restored->second);
  }

  // The float weight's name: the packed data's name without the suffix onnxquant gave it.
  static std::string original_name(const std::string& packed_name) {
    for (const char* suffix : {"_Q4", "_Q8"}) {
      const std::string ending(suffix);
      if (packed_name.size() > ending.size() && packed_name.ends_with(ending)) {
        return packed_name.substr(0, packed_name.size() - ending.size());
      }
    }
    return packed_name + "_float32";
  }

  // GatherBlockQuantized (gather_axis 0, quantize_axis 1, 4-bit uint8 data) becomes a Gather on a
  // float32 table [V, H].
  void fold_gather_block_quantized(onnx::NodeProto& node, GraphEdits& edits) {
    graph::Weight* packed = weight(node.input(0));
    graph::Weight* scale = node.input_size() > 2 ? weight(node.input(2)) : nullptr;
    graph::Weight* zero_point = node.input_size() > 3 && !node.input(3).empty() ? weight(node.input(3)) : nullptr;
    const int64_t block_size = int_attribute(node, "block_size", 128);
    const bool supported = packed != nullptr && scale != nullptr && packed->tensor->data_type() == TensorProto::UINT8 &&
                           packed->tensor->dims_size() == 2 && int_attribute(node, "bits", 4) == 4 &&
                           int_attribute(node, "gather_axis", 0) == 0 && int_attribute(node, "quantize_axis", 1) == 1 &&
                           (node.input_size() <= 3 || node.input(3).empty() || zero_point != nullptr);
    if (!supported) {
      report_.notes.push_back(fmt::format("GatherBlockQuantized node '{}' stays quantized: only 4-bit uint8 data with "
                                          "gather_axis 0, quantize_axis 1 and constant scales is restored",
                                          node.name()));
      spdlog::warn("{}", report_.notes.back());
      return;
    }
    const int64_t rows = packed->tensor->dims(0);
    const int64_t columns = packed->tensor->dims(1) * 2;
    const std::vector<float> scales = io::read_float_values(*scale->tensor, store_);
    const int64_t blocks = (columns + block_size - 1) / block_size;
    const io::TensorBytes packed_bytes = store_.bytes(*packed->tensor);
    const io::TensorBytes zero_point_bytes = zero_point ? store_.bytes(*zero_point->tensor) : io::TensorBytes();
    const auto codes = packed_bytes.span();
    const int64_t zero_point_row = (blocks + 1) / 2;
    std::vector<float> table(static_cast<size_t>(rows * columns));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < columns; ++c) {
        const int64_t b = c / block_size;
        const int32_t block_zero_point =
            zero_point ? kernels::read_code(zero_point_bytes.span().subspan(r * zero_point_row),
                                            kernels::CodeType::kUint4, b)
                       : 8;
        const int32_t code = kernels::read_code(codes.subspan(r * columns / 2), kernels::CodeType::kUint4, c);
        table[r * columns + c] = static_cast<float>(code - block_zero_point) * scales[r * blocks + b];
      }
    }
    const std::string name = names_.allocate(original_name(packed->name));
    TensorReport entry = restore_entry(name, *packed, table.size());
    entry.shape = {rows, columns};
    entry.bytes_before += stored_bytes(*scale->tensor) + (zero_point ? stored_bytes(*zero_point->tensor) : 0);
    report_.tensors.push_back(std::move(entry));
    edits.add_initializer(*packed->graph, io::make_float_tensor(name, {rows, columns}, table));

    const std::string indices = node.input(1);
    for (graph::Weight* input : {packed, scale, zero_point}) remove_if_unused_elsewhere(input, node, edits);
    node.set_op_type("Gather");
    node.clear_domain();
    node.clear_attribute();
    node.clear_input();
    node.add_input(name);
    node.add_input(indices);
  }

  std::vector<float> dequantize_matmul_nbits(const graph::Weight& packed, const graph::Weight& scale,
                                             const graph::Weight* zero_point, int64_t k, int64_t n, int64_t bits,
                                             int64_t block_size) const {
    const std::vector<float> scales = io::read_float_values(*scale.tensor, store_);
    const io::TensorBytes packed_bytes = store_.bytes(*packed.tensor);
    const io::TensorBytes zero_point_bytes = zero_point ? store_.bytes(*zero_point->tensor) : io::TensorBytes();
    const auto codes = packed_bytes.span();
    const int64_t blocks = (k + block_size - 1) / block_size;
    const int64_t blob = block_size * bits / 8;
    const int64_t zero_point_row = (blocks * bits + 7) / 8;
    const auto code_kind = bits == 4 ? kernels::CodeType::kUint4 : kernels::CodeType::kUint8;
    const int32_t default_zero_point = 1 << (bits - 1);

    std::vector<float> weight(static_cast<size_t>(k * n));
    for (int64_t column = 0; column < n; ++column) {
      for (int64_t b = 0; b < blocks; ++b) {
        const float block_scale = scales[column * blocks + b];
        const int32_t block_zero_point =
            zero_point ? kernels::read_code(zero_point_bytes.span().subspan(column * zero_point_row), code_kind, b)
                       : default_zero_point;
        const auto block_codes = codes.subspan((column * blocks + b) * blob);
        for (int64_t j = 0; j < block_size && b * block_size + j < k; ++j) {
          const int32_t code = kernels::read_code(block_codes, code_kind, j);
          weight[(b * block_size + j) * n + column] = static_cast<float>(code - block_zero_point) * block_scale;
        }
      }
    }
    return weight;
  }

  TensorReport restore_entry(const std::string& name, const graph::Weight& data, size_t elements) const {
    TensorReport entry;
    entry.name = name;
    entry.scope = data.scope;
    entry.nodes = node_names(data);
    entry.op_types = node_op_types(data);
    entry.shape = io::dims_of(*data.tensor);
    entry.dtype_before = code_type_name(data.tensor->data_type());
    entry.dtype_after = "float32";
    entry.elements = elements;
    entry.bytes_before = stored_bytes(*data.tensor);
    entry.bytes_after = elements * sizeof(float);
    entry.scheme = "restore";
    entry.cosine_similarity = 1.0;
    entry.sqnr_db = std::numeric_limits<double>::infinity();
    return entry;
  }

  static bool is_half_type(int32_t type) { return type == TensorProto::FLOAT16 || type == TensorProto::BFLOAT16; }

  void upcast_tensor(TensorProto& tensor, const std::string& name, const std::string& scope) {
    if (!is_half_type(tensor.data_type())) return;
    TensorReport entry;
    entry.name = name;
    entry.scope = scope;
    entry.shape = io::dims_of(tensor);
    entry.dtype_before = io::dtype_name(tensor.data_type());
    entry.dtype_after = "float32";
    entry.elements = io::element_count(tensor);
    entry.bytes_before = io::tensor_bytes(tensor);
    entry.bytes_after = entry.elements * sizeof(float);
    entry.scheme = "cast";
    entry.cosine_similarity = 1.0;
    entry.sqnr_db = std::numeric_limits<double>::infinity();
    const bool external = io::is_external(tensor);
    const std::vector<float> values = io::read_float_values(tensor, store_);
    tensor = io::make_float_tensor(tensor.name(), entry.shape, values);
    if (external) store_.move_to_output(tensor);
    report_.tensors.push_back(std::move(entry));
  }

  void upcast_tensors() {
    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string& scope) {
      for (auto& tensor : *graph.mutable_initializer()) upcast_tensor(tensor, tensor.name(), scope);
      for (auto& node : *graph.mutable_node()) {
        for (auto& attribute : *node.mutable_attribute()) {
          if (attribute.has_t()) upcast_tensor(*attribute.mutable_t(), node.output_size() > 0 ? node.output(0) : "", scope);
          const bool type_attribute = (node.op_type() == "Cast" && attribute.name() == "to") || attribute.name() == "dtype";
          if (type_attribute && is_half_type(static_cast<int32_t>(attribute.i()))) attribute.set_i(TensorProto::FLOAT);
        }
      }
    });
  }

  void upcast_declarations() {
    auto upcast = [](onnx::ValueInfoProto& value) {
      if (value.type().has_tensor_type() && is_half_type(value.type().tensor_type().elem_type())) {
        value.mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
      }
    };
    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
      for (auto& value : *graph.mutable_input()) upcast(value);
      for (auto& value : *graph.mutable_output()) upcast(value);
      for (auto& value : *graph.mutable_value_info()) upcast(value);
    });
  }

  // Removes Casts whose input is already float32 and that cast to float32.
  void remove_identity_casts() {
    const graph::ValueTypes types = graph::infer_value_types(model_);
    int removed = 0;
    graph::for_each_graph(*model_.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
      removed += fold_output_casts(graph, types);
      std::set<std::string> outputs;
      for (const auto& output : graph.output()) outputs.insert(output.name());
      google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
      std::map<std::string, std::string> renamed;
      for (auto& node : *graph.mutable_node()) {
        for (auto& input : *node.mutable_input()) {
          auto it = renamed.find(input);
          if (it != renamed.end()) input = it->second;
        }
        const bool identity = node.op_type() == "Cast" && is_default_domain(node) &&
                              int_attribute(node, "to", 0) == TensorProto::FLOAT &&
                              graph::type_of(types, node.input(0)) == TensorProto::FLOAT;
        if (identity && outputs.count(node.output(0)) == 0 && !used_in_subgraphs(graph, node.output(0))) {
          renamed[node.output(0)] = node.input(0);
          ++removed;
          continue;
        }
        nodes.Add()->Swap(&node);
      }
      graph.mutable_node()->Swap(&nodes);
    });
    if (removed > 0) spdlog::info("removed {} Casts that became float32 to float32", removed);
  }

  // Removes float32-to-float32 Casts that produce a graph output: the producer of the Cast's input
  // takes the output name instead, when that input is neither a graph input nor a graph output.
  static int fold_output_casts(onnx::GraphProto& graph, const graph::ValueTypes& types) {
    std::set<std::string> outputs;
    for (const auto& output : graph.output()) outputs.insert(output.name());
    std::set<std::string> inputs;
    for (const auto& input : graph.input()) inputs.insert(input.name());
    std::set<const onnx::NodeProto*> dropped;
    for (auto& cast : *graph.mutable_node()) {
      const bool identity = cast.op_type() == "Cast" && is_default_domain(cast) &&
                            int_attribute(cast, "to", 0) == TensorProto::FLOAT &&
                            graph::type_of(types, cast.input(0)) == TensorProto::FLOAT;
      if (!identity || outputs.count(cast.output(0)) == 0) continue;
      const std::string from = cast.input(0);
      const std::string to = cast.output(0);
      if (outputs.count(from) > 0 || inputs.count(from) > 0 || used_in_subgraphs(graph, from)) continue;
      onnx::NodeProto* producer = nullptr;
      for (auto& node : *graph.mutable_node()) {
        for (const auto& output : node.output()) producer = output == from ? &node : producer;
      }
      if (producer == nullptr) continue;
      for (auto& node : *graph.mutable_node()) {
        if (&node == &cast) continue;
        for (auto& name : *node.mutable_input()) name = name == from ? to : name;
        for (auto& name : *node.mutable_output()) name = name == from ? to : name;
      }
      dropped.insert(&cast);
    }
    if (dropped.empty()) return 0;
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (auto& node : *graph.mutable_node()) {
      if (dropped.count(&node) == 0) nodes.Add()->Swap(&node);
    }
    graph.mutable_node()->Swap(&nodes);
    return static_cast<int>(dropped.size());
  }

  static bool used_in_subgraphs(onnx::GraphProto& graph, const std::string& name) {
    bool used = false;
    for (auto& node : *graph.mutable_node()) {
      for (auto& attribute : *node.mutable_attribute()) {
        auto check = [&](onnx::GraphProto& subgraph, const std::string&) {
          for (const auto& inner : subgraph.node()) {
            for (const auto& input : inner.input()) used = used || input == name;
          }
        };
        if (attribute.has_g()) graph::for_each_graph(*attribute.mutable_g(), "", check);
        for (auto& subgraph : *attribute.mutable_graphs()) graph::for_each_graph(subgraph, "", check);
      }
    }
    return used;
  }

  onnx::ModelProto& model_;
  io::TensorStore& store_;
  int threads_;
  Report& report_;
  graph::NameAllocator names_;
  std::vector<graph::Weight> weights_;
  std::map<std::string, graph::Weight*> by_name_;
  std::map<std::string, std::string> restored_weights_;
};

}  // namespace

void restore_float32(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options,
                     Report& report) {
  Float32Restorer(model, store, kernels::resolve_thread_count(options.threads), report).run();
}

}  // namespace onnxquant::passes
