#include "graph/opset.hpp"

#include "graph/shape_inference_guard.hpp"
#include "io/external_placeholders.hpp"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <unordered_set>
#include <onnx/version_converter/convert.h>

namespace onnxquant::graph {
namespace {

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

}  // namespace

int64_t opset_version(const onnx::ModelProto& model, const std::string& domain) {
  for (const auto& entry : model.opset_import()) {
    if (entry.domain() == domain || (is_default_domain(domain) && is_default_domain(entry.domain()))) {
      return entry.version();
    }
  }
  return 0;
}

void add_opset_import(onnx::ModelProto& model, const std::string& domain, int64_t version) {
  if (opset_version(model, domain) != 0) return;
  auto* entry = model.add_opset_import();
  entry->set_domain(domain);
  entry->set_version(version);
}

bool convert_opset(onnx::ModelProto& model, int64_t target, std::string& error) {
  if (!safe_for_shape_inference(model, error)) return false;
  // The converter drops external data references, so they travel as placeholders.
  const io::ExternalPlaceholders placeholders(model);
  try {
    // Some adapters (Softmax 12 to 13, for example) need input shapes, so infer them first and
    // drop the inferred value_info entries afterwards.
    std::unordered_set<std::string> original_value_info;
    for (const auto& value : model.graph().value_info()) original_value_info.insert(value.name());
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred);

    onnx::ModelProto converted = onnx::version_conversion::ConvertVersion(inferred, static_cast<int>(target));
    auto* value_info = converted.mutable_graph()->mutable_value_info();
    for (int i = value_info->size() - 1; i >= 0; --i) {
      if (original_value_info.count(value_info->Get(i).name()) == 0) value_info->DeleteSubrange(i, 1);
    }
    placeholders.restore(converted);
    model = std::move(converted);
    return true;
  } catch (const std::exception& exception) {
    placeholders.restore(model);
    // Converter messages start with the source location of a failed assertion; keep the reason.
    error = exception.what();
    const auto reason = error.rfind("failed: ");
    if (reason != std::string::npos) error = error.substr(reason + 8);
    return false;
  }
}

int64_t checker_max_opset() {
  const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find("");
  return it == map.end() ? 0 : it->second.second;
}

int64_t checker_max_ir_version() { return onnx::IR_VERSION; }

}  // namespace onnxquant::graph
