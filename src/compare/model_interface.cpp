#include "compare/model_interface.hpp"

#include <fmt/format.h>
#include <set>

#include "compare/tensor_values.hpp"
#include "io/quoted_name.hpp"
#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::compare {
namespace {

std::set<std::string> names_of(const std::vector<eval::ValueDescription>& values) {
  std::set<std::string> names;
  for (const auto& value : values) names.insert(value.name);
  return names;
}

void check_same_names(const ModelUnderTest& reference, const ModelUnderTest& candidate, const char* kind,
                      const std::vector<eval::ValueDescription> ModelUnderTest::*values) {
  const std::set<std::string> reference_names = names_of(reference.*values);
  const std::set<std::string> candidate_names = names_of(candidate.*values);
  for (const auto& name : reference_names) {
    if (candidate_names.count(name) == 0) {
      throw ModelError(fmt::format("the models cannot be compared: {} has the {} {} but {} does not", reference.label,
                                   kind, io::quoted_name(name), candidate.label));
    }
  }
  for (const auto& name : candidate_names) {
    if (reference_names.count(name) == 0) {
      throw ModelError(fmt::format("the models cannot be compared: {} has the {} {} but {} does not", candidate.label,
                                   kind, io::quoted_name(name), reference.label));
    }
  }
}

const eval::ValueDescription& find_value(const std::vector<eval::ValueDescription>& values, const std::string& name) {
  for (const auto& value : values) {
    if (value.name == name) return value;
  }
  throw std::logic_error("value " + name + " is not in the list");
}

bool types_compatible(int32_t a, int32_t b) { return a == b || (io::is_float_type(a) && io::is_float_type(b)); }

void check_same_input(const eval::ValueDescription& a, const eval::ValueDescription& b, const ModelUnderTest& reference,
                      const ModelUnderTest& candidate) {
  const std::string name = io::quoted_name(a.name);
  if (!types_compatible(a.dtype, b.dtype)) {
    throw ModelError(fmt::format("the models cannot be compared: input {} is {} in {} but {} in {}", name,
                                 io::dtype_name(a.dtype), reference.label, io::dtype_name(b.dtype), candidate.label));
  }
  // A model that declares no shape for the input accepts any shape.
  if (!a.has_shape || !b.has_shape) return;
  if (a.shape.size() != b.shape.size()) {
    throw ModelError(fmt::format("the models cannot be compared: input {} has shape {} in {} but {} in {}", name,
                                 format_declared_shape(a), reference.label, format_declared_shape(b), candidate.label));
  }
  for (size_t axis = 0; axis < a.shape.size(); ++axis) {
    if (a.shape[axis] >= 0 && b.shape[axis] >= 0 && a.shape[axis] != b.shape[axis]) {
      throw ModelError(fmt::format("the models cannot be compared: input {} has shape {} in {} but {} in {}", name,
                                   format_declared_shape(a), reference.label, format_declared_shape(b),
                                   candidate.label));
    }
  }
}

}  // namespace

std::string format_declared_shape(const eval::ValueDescription& value) {
  if (!value.has_shape) return "(any shape)";
  std::vector<std::string> dims;
  for (size_t axis = 0; axis < value.shape.size(); ++axis) {
    if (value.shape[axis] >= 0) {
      dims.push_back(std::to_string(value.shape[axis]));
    } else {
      const bool named = axis < value.dim_params.size() && !value.dim_params[axis].empty();
      dims.push_back(named ? value.dim_params[axis] : "?");
    }
  }
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

void check_same_interface(const ModelUnderTest& reference, const ModelUnderTest& candidate) {
  check_same_names(reference, candidate, "input", &ModelUnderTest::inputs);
  check_same_names(reference, candidate, "output", &ModelUnderTest::outputs);
  for (const auto& input : reference.inputs) {
    check_same_input(input, find_value(candidate.inputs, input.name), reference, candidate);
  }
  for (const auto& output : reference.outputs) {
    const auto& other = find_value(candidate.outputs, output.name);
    if (!types_compatible(output.dtype, other.dtype)) {
      throw ModelError(fmt::format("the models cannot be compared: output {} is {} in {} but {} in {}",
                                   io::quoted_name(output.name), io::dtype_name(output.dtype), reference.label,
                                   io::dtype_name(other.dtype), candidate.label));
    }
  }
}

void check_feeds(const Feeds& feeds, const ModelUnderTest& model, const std::map<std::string, std::string>& sources) {
  for (const auto& input : model.inputs) {
    const auto feed = feeds.find(input.name);
    if (feed == feeds.end()) {
      throw UsageError(fmt::format("no value for input {} of {}", io::quoted_name(input.name), model.label));
    }
    const auto source = sources.find(input.name);
    const std::string origin = source == sources.end() ? "" : fmt::format(" (from '{}')", source->second);
    const eval::Tensor& tensor = feed->second;
    if (tensor.dtype != input.dtype) {
      throw UsageError(fmt::format("input {}{} is {} but {} expects {}", io::quoted_name(input.name), origin,
                                   io::dtype_name(tensor.dtype), model.label, io::dtype_name(input.dtype)));
    }
    bool fits = !input.has_shape || tensor.shape.size() == input.shape.size();
    for (size_t axis = 0; fits && input.has_shape && axis < input.shape.size(); ++axis) {
      fits = input.shape[axis] < 0 || input.shape[axis] == tensor.shape[axis];
    }
    if (!fits) {
      throw UsageError(fmt::format("input {}{} has shape {} but {} expects {}", io::quoted_name(input.name), origin,
                                   io::format_shape(tensor.shape), model.label, format_declared_shape(input)));
    }
  }
}

Feeds convert_feeds(const Feeds& feeds, const std::vector<eval::ValueDescription>& inputs) {
  Feeds converted = feeds;
  for (const auto& input : inputs) {
    auto feed = converted.find(input.name);
    if (feed == converted.end() || feed->second.dtype == input.dtype) continue;
    if (!io::is_float_type(feed->second.dtype) || !io::is_float_type(input.dtype)) continue;
    feed->second = from_doubles(input.dtype, feed->second.shape, to_doubles(feed->second));
  }
  return converted;
}

}  // namespace onnxquant::compare
