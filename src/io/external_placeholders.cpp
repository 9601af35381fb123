#include "io/external_placeholders.hpp"

#include <charconv>
#include <string>
#include <string_view>

#include "graph/tensor_walk.hpp"
#include "io/external_data.hpp"

namespace onnxquant::io {
namespace {

// Tokens start with a NUL byte, which keeps them apart from the text most tensors hold, and end
// with the index of the reference.
constexpr std::string_view kTokenPrefix{"\0onnxquant-external-data:", 25};

// The index in a token, or -1 when `raw` is not a token.
int64_t token_index(const std::string& raw) {
  if (raw.size() <= kTokenPrefix.size() || std::string_view(raw).substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return -1;
  }
  int64_t index = -1;
  const char* end = raw.data() + raw.size();
  const auto [ptr, error] = std::from_chars(raw.data() + kTokenPrefix.size(), end, index);
  return error == std::errc() && ptr == end ? index : -1;
}

}  // namespace

ExternalPlaceholders::ExternalPlaceholders(onnx::ModelProto& model) {
  graph::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& tensor) {
    if (!is_external(tensor)) return;
    Reference reference;
    reference.entries.Swap(tensor.mutable_external_data());
    tensor.clear_data_location();
    tensor.set_raw_data(std::string(kTokenPrefix) + std::to_string(references_.size()));
    references_.push_back(std::move(reference));
  });
}

void ExternalPlaceholders::restore(onnx::ModelProto& model) const {
  if (references_.empty()) return;
  graph::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& tensor) {
    const int64_t index = token_index(tensor.raw_data());
    if (index < 0 || index >= static_cast<int64_t>(references_.size())) return;
    tensor.clear_raw_data();
    tensor.set_data_location(onnx::TensorProto::EXTERNAL);
    *tensor.mutable_external_data() = references_[static_cast<size_t>(index)].entries;
  });
}

}  // namespace onnxquant::io
