#include "eval/attributes.hpp"

#include <fmt/format.h>

#include "io/quoted_name.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

using onnx::AttributeProto;

namespace {

const char* type_name(AttributeProto::AttributeType type) {
  switch (type) {
    case AttributeProto::FLOAT: return "float";
    case AttributeProto::INT: return "int";
    case AttributeProto::STRING: return "string";
    case AttributeProto::TENSOR: return "tensor";
    case AttributeProto::GRAPH: return "graph";
    case AttributeProto::FLOATS: return "floats";
    case AttributeProto::INTS: return "ints";
    case AttributeProto::STRINGS: return "strings";
    default: return "another type";
  }
}

}  // namespace

const AttributeProto* NodeAttributes::find(const std::string& name) const {
  for (const auto& attribute : node_.attribute()) {
    if (attribute.name() == name) return &attribute;
  }
  return nullptr;
}

const AttributeProto* NodeAttributes::find_typed(const std::string& name, AttributeProto::AttributeType type) const {
  const AttributeProto* attribute = find(name);
  if (attribute == nullptr) return nullptr;
  if (!attribute->ref_attr_name().empty()) {
    throw ModelError(fmt::format("attribute {} refers to a function attribute, which the evaluator does not support",
                                 io::quoted_name(name)));
  }
  // Files from old exporters leave the type unset, so the field that has a value gives the type.
  const bool matches = attribute->type() == type ||
                       (attribute->type() == AttributeProto::UNDEFINED &&
                        ((type == AttributeProto::INT && attribute->has_i()) ||
                         (type == AttributeProto::FLOAT && attribute->has_f()) ||
                         (type == AttributeProto::STRING && attribute->has_s()) ||
                         (type == AttributeProto::TENSOR && attribute->has_t()) ||
                         (type == AttributeProto::GRAPH && attribute->has_g()) ||
                         (type == AttributeProto::INTS && attribute->ints_size() > 0) ||
                         (type == AttributeProto::FLOATS && attribute->floats_size() > 0)));
  if (!matches) {
    throw ModelError(fmt::format("attribute {} has type {}, expected {}", io::quoted_name(name),
                                 type_name(attribute->type()), type_name(type)));
  }
  return attribute;
}

int64_t NodeAttributes::get_int(const std::string& name, int64_t fallback) const {
  return find_int(name).value_or(fallback);
}

std::optional<int64_t> NodeAttributes::find_int(const std::string& name) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::INT);
  if (attribute == nullptr) return std::nullopt;
  return attribute->i();
}

float NodeAttributes::get_float(const std::string& name, float fallback) const {
  return find_float(name).value_or(fallback);
}

std::optional<float> NodeAttributes::find_float(const std::string& name) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::FLOAT);
  if (attribute == nullptr) return std::nullopt;
  return attribute->f();
}

std::string NodeAttributes::get_string(const std::string& name, const std::string& fallback) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::STRING);
  return attribute == nullptr ? fallback : attribute->s();
}

std::vector<int64_t> NodeAttributes::get_ints(const std::string& name, std::vector<int64_t> fallback) const {
  return find_ints(name).value_or(std::move(fallback));
}

std::optional<std::vector<int64_t>> NodeAttributes::find_ints(const std::string& name) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::INTS);
  if (attribute == nullptr) return std::nullopt;
  return std::vector<int64_t>(attribute->ints().begin(), attribute->ints().end());
}

std::vector<float> NodeAttributes::get_floats(const std::string& name, std::vector<float> fallback) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::FLOATS);
  if (attribute == nullptr) return fallback;
  return {attribute->floats().begin(), attribute->floats().end()};
}

std::vector<std::string> NodeAttributes::get_strings(const std::string& name) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::STRINGS);
  if (attribute == nullptr) return {};
  return {attribute->strings().begin(), attribute->strings().end()};
}

const onnx::TensorProto* NodeAttributes::find_tensor(const std::string& name) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::TENSOR);
  return attribute == nullptr ? nullptr : &attribute->t();
}

const onnx::GraphProto* NodeAttributes::find_graph(const std::string& name) const {
  const AttributeProto* attribute = find_typed(name, AttributeProto::GRAPH);
  return attribute == nullptr ? nullptr : &attribute->g();
}

int64_t NodeAttributes::require_int(const std::string& name) const {
  const auto value = find_int(name);
  if (!value) throw ModelError(fmt::format("the required attribute {} is missing", io::quoted_name(name)));
  return *value;
}

const onnx::GraphProto& NodeAttributes::require_graph(const std::string& name) const {
  const onnx::GraphProto* graph = find_graph(name);
  if (graph == nullptr) throw ModelError(fmt::format("the required graph attribute {} is missing", io::quoted_name(name)));
  return *graph;
}

}  // namespace onnxquant::eval
