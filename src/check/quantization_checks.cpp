#include "check/quantization_checks.hpp"

#include <cmath>
#include <fmt/format.h>
#include <optional>

#include "graph/node_order.hpp"
#include "graph/opset.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::check {
namespace {

// Input positions, as the operator specifications number them.
constexpr int kDequantizeInputX = 0;
constexpr int kDequantizeInputScale = 1;
constexpr int kDequantizeInputZeroPoint = 2;
constexpr int kNBitsInputA = 0;
constexpr int kNBitsInputB = 1;
constexpr int kNBitsInputScales = 2;
constexpr int kNBitsInputZeroPoints = 3;
constexpr int64_t kNBitsMinBlockSize = 16;

std::optional<int64_t> int_attribute(const onnx::NodeProto& node, const char* name) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == name) return attribute.i();
  }
  return std::nullopt;
}

const onnx::TensorProto* constant_input(const onnx::NodeProto& node, int index, const ScopeValues& scope) {
  if (node.input_size() <= index || node.input(index).empty()) return nullptr;
  return scope.constant(node.input(index));
}

// The dimensions of input `index`, from the constant or a declared shape; -1 for an unknown dimension.
std::optional<std::vector<int64_t>> input_dims(const onnx::NodeProto& node, int index, const ScopeValues& scope) {
  if (const auto* tensor = constant_input(node, index, scope)) return io::dims_of(*tensor);
  if (node.input_size() <= index) return std::nullopt;
  const auto* shape = scope.declared_shape(node.input(index));
  if (shape == nullptr) return std::nullopt;
  std::vector<int64_t> dims;
  for (const auto& dim : shape->dim()) dims.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return dims;
}

class NodeFindings {
 public:
  NodeFindings(const onnx::NodeProto& node, const std::string& where, std::vector<std::string>& findings)
      : prefix_(fmt::format("{} in {}", graph::describe_node(node), where)), findings_(findings) {}

  template <typename... Args>
  void add(fmt::format_string<Args...> format, Args&&... args) {
    findings_.push_back(prefix_ + ": " + fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  std::string prefix_;
  std::vector<std::string>& findings_;
};

// Reports scale values that are NaN, infinite, or not allowed by `valid`.
template <typename Valid>
void check_scale_values(const onnx::TensorProto& scales, const io::TensorStore& store, NodeFindings& out, const char* rule,
                        Valid valid) {
  std::vector<float> values;
  try {
    values = io::read_float_values(scales, store);
  } catch (const ModelError& error) {
    out.add("cannot read its scales: {}", error.what());
    return;
  }
  size_t bad = 0;
  float first = 0.0f;
  for (float value : values) {
    if (std::isfinite(value) && valid(value)) continue;
    if (bad++ == 0) first = value;
  }
  if (bad > 0) out.add("{} of {} scales are not {}, for example {}", bad, values.size(), rule, first);
}

void check_per_axis(const std::vector<int64_t>& x_dims, int64_t axis, uint64_t scale_count, NodeFindings& out) {
  const int64_t rank = static_cast<int64_t>(x_dims.size());
  const int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank) {
    out.add("axis {} is outside the input's rank {}", axis, rank);
    return;
  }
  const int64_t dim = x_dims[static_cast<size_t>(normalized)];
  if (dim >= 0 && static_cast<uint64_t>(dim) != scale_count) {
    out.add("axis {} has dimension {} but there are {} scales", axis, dim, scale_count);
  }
}

void check_dequantize_linear(const onnx::NodeProto& node, const ScopeValues& scope, const io::TensorStore& store,
                             NodeFindings& out) {
  const onnx::TensorProto* scales = constant_input(node, kDequantizeInputScale, scope);
  if (scales == nullptr) return;
  check_scale_values(*scales, store, out, "finite and positive", [](float value) { return value > 0.0f; });

  const uint64_t scale_count = io::element_count(*scales);
  const std::optional<int64_t> axis = int_attribute(node, "axis");
  const bool blocked = int_attribute(node, "block_size").value_or(0) > 0;
  if ((scale_count > 1 || blocked) && !axis) {
    out.add("has {} scales but no explicit axis attribute", scale_count);
  }
  const auto x_dims = input_dims(node, kDequantizeInputX, scope);
  if (axis && x_dims && !blocked && scales->dims_size() == 1 && scale_count > 1) {
    check_per_axis(*x_dims, *axis, scale_count, out);
  }
  const onnx::TensorProto* zero_point = constant_input(node, kDequantizeInputZeroPoint, scope);
  if (zero_point != nullptr && io::dims_of(*zero_point) != io::dims_of(*scales)) {
    out.add("its zero point has shape {} but its scales have shape {}", io::format_shape(io::dims_of(*zero_point)),
            io::format_shape(io::dims_of(*scales)));
  }
}

struct NBitsAttributes {
  int64_t k = 0;
  int64_t n = 0;
  int64_t bits = 0;
  int64_t block_size = 0;
};

std::optional<NBitsAttributes> nbits_attributes(const onnx::NodeProto& node, NodeFindings& out) {
  NBitsAttributes attributes;
  const auto k = int_attribute(node, "K");
  const auto n = int_attribute(node, "N");
  const auto bits = int_attribute(node, "bits");
  const auto block_size = int_attribute(node, "block_size");
  if (!k || !n || !bits || !block_size) {
    out.add("misses one of the attributes K, N, bits and block_size");
    return std::nullopt;
  }
  attributes = {*k, *n, *bits, *block_size};
  const bool power_of_two = attributes.block_size > 0 && (attributes.block_size & (attributes.block_size - 1)) == 0;
  if (attributes.k <= 0 || attributes.n <= 0 || attributes.bits < 2 || attributes.bits > 8 ||
      attributes.block_size < kNBitsMinBlockSize || !power_of_two) {
    out.add("has invalid attributes K = {}, N = {}, bits = {}, block_size = {}", attributes.k, attributes.n,
            attributes.bits, attributes.block_size);
    return std::nullopt;
  }
  return attributes;
}

uint64_t count_of(const std::vector<int64_t>& dims) {
  uint64_t count = 1;
  for (int64_t dim : dims) count *= static_cast<uint64_t>(dim < 0 ? 0 : dim);
  return count;
}

// GatherBlockQuantized with 2-D data quantized along axis 1: scales [rows, ceil(columns / block_size)],
// finite and nonzero, where each data byte holds 8 / bits codes.
void check_gather_block_quantized(const onnx::NodeProto& node, const ScopeValues& scope, const io::TensorStore& store,
                                  NodeFindings& out) {
  const int64_t bits = int_attribute(node, "bits").value_or(4);
  const auto block_size = int_attribute(node, "block_size");
  if (!block_size || *block_size < 16 || (*block_size & (*block_size - 1)) != 0) {
    out.add("block_size must be a power of two of at least 16");
    return;
  }
  if (bits != 4 && bits != 8) {
    out.add("bits is {}; GatherBlockQuantized takes 4 or 8", bits);
    return;
  }
  const auto data = input_dims(node, 0, scope);
  const auto* scales = constant_input(node, 2, scope);
  if (!data || data->size() != 2 || scales == nullptr || int_attribute(node, "quantize_axis").value_or(1) != 1) return;
  const int64_t columns = (*data)[1] * 8 / bits;
  const std::vector<int64_t> expected = {(*data)[0], (columns + *block_size - 1) / *block_size};
  if (io::dims_of(*scales) != expected) {
    out.add("scales have shape {} but data {} with block_size {} needs {}", io::format_shape(io::dims_of(*scales)),
            io::format_shape(*data), *block_size, io::format_shape(expected));
  }
  check_scale_values(*scales, store, out, "finite and nonzero", [](float value) { return value != 0.0f; });
}

void check_matmul_nbits(const onnx::NodeProto& node, const ScopeValues& scope, const io::TensorStore& store,
                        NodeFindings& out) {
  const auto attributes = nbits_attributes(node, out);
  if (!attributes) return;
  const int64_t blocks = (attributes->k + attributes->block_size - 1) / attributes->block_size;
  const int64_t blob_bytes = attributes->block_size * attributes->bits / 8;
  const std::vector<int64_t> expected_b = {attributes->n, blocks, blob_bytes};
  // ONNX Runtime also reads B as [N, blocks * blob_bytes]; onnxquant writes that form when a tied
  // embedding table shares B.
  const std::vector<int64_t> expected_flat_b = {attributes->n, blocks * blob_bytes};

  if (const auto b = input_dims(node, kNBitsInputB, scope); b && *b != expected_b && *b != expected_flat_b) {
    out.add("B has shape {} but K, N, bits and block_size need {}", io::format_shape(*b), io::format_shape(expected_b));
  }
  if (const auto a = input_dims(node, kNBitsInputA, scope); a && !a->empty() && a->back() >= 0 && a->back() != attributes->k) {
    out.add("A's last dimension is {} but K is {}", a->back(), attributes->k);
  }
  const uint64_t scale_count = static_cast<uint64_t>(attributes->n * blocks);
  if (const auto* scales = constant_input(node, kNBitsInputScales, scope)) {
    if (io::element_count(*scales) != scale_count) {
      out.add("has {} scales but N x ceil(K / block_size) is {}", io::element_count(*scales), scale_count);
    }
    check_scale_values(*scales, store, out, "finite and nonzero", [](float value) { return value != 0.0f; });
  }
  if (const auto zero_points = input_dims(node, kNBitsInputZeroPoints, scope)) {
    const auto* stored = constant_input(node, kNBitsInputZeroPoints, scope);
    const bool packed = stored == nullptr || stored->data_type() == onnx::TensorProto::UINT8;
    const uint64_t per_column = packed ? static_cast<uint64_t>((blocks * attributes->bits + 7) / 8)
                                       : static_cast<uint64_t>(blocks);
    const uint64_t expected = static_cast<uint64_t>(attributes->n) * per_column;
    if (count_of(*zero_points) != expected) {
      out.add("has {} zero point entries but K, N, bits and block_size need {}", count_of(*zero_points), expected);
    }
  }
}

}  // namespace

void check_quantization_node(const onnx::NodeProto& node, const ScopeValues& scope, const io::TensorStore& store,
                             const std::string& where, std::vector<std::string>& findings) {
  NodeFindings out(node, where, findings);
  const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
  if (default_domain && node.op_type() == "DequantizeLinear") check_dequantize_linear(node, scope, store, out);
  if (node.domain() == graph::kMicrosoftDomain && node.op_type() == "MatMulNBits") {
    check_matmul_nbits(node, scope, store, out);
  }
  if (node.domain() == graph::kMicrosoftDomain && node.op_type() == "GatherBlockQuantized") {
    check_gather_block_quantized(node, scope, store, out);
  }
}

}  // namespace onnxquant::check
