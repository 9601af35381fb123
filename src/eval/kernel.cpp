#include "eval/kernel.hpp"

#include <fmt/format.h>

#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

const Tensor& KernelContext::input(size_t index) const {
  if (!has_input(index)) throw ModelError(fmt::format("the required input {} is missing", index));
  return *inputs_[index];
}

Tensor KernelContext::take_input(size_t index) {
  if (index < owned_.size() && owned_[index] != nullptr) return std::move(*owned_[index]);
  return input(index);
}

bool KernelContext::wants_output(size_t index) const {
  return index < static_cast<size_t>(node_.output_size()) && !node_.output(static_cast<int>(index)).empty();
}

void OperatorTable::add(OperatorSpec spec) {
  auto key = std::make_pair(spec.domain, spec.op_type);
  if (!specs_.emplace(std::move(key), std::move(spec)).second) {
    throw std::logic_error("an operator was registered twice");
  }
}

const OperatorSpec* OperatorTable::find(const std::string& domain, const std::string& op_type) const {
  const auto it = specs_.find({domain, op_type});
  return it == specs_.end() ? nullptr : &it->second;
}

std::vector<const OperatorSpec*> OperatorTable::all() const {
  std::vector<const OperatorSpec*> specs;
  for (const auto& [key, spec] : specs_) specs.push_back(&spec);
  return specs;
}

const OperatorTable& operator_table() {
  static const OperatorTable table = [] {
    OperatorTable built;
    register_unary_ops(built);
    register_binary_ops(built);
    register_shape_ops(built);
    register_tensor_ops(built);
    register_matmul_ops(built);
    register_reduce_ops(built);
    register_normalization_ops(built);
    register_quantization_ops(built);
    register_transformer_ops(built);
    register_conv_ops(built);
    register_pool_ops(built);
    register_resize_ops(built);
    register_recurrent_ops(built);
    register_control_flow_ops(built);
    return built;
  }();
  return table;
}

}  // namespace onnxquant::eval
