// The quantize driver: opset preparation, weight selection, one pass per precision, and the
// per-tensor log lines.
#include <fmt/format.h>
#include <algorithm>
#include <optional>
#include <set>
#include <spdlog/spdlog.h>

#include "graph/graph_walk.hpp"
#include "graph/names.hpp"
#include "graph/opset.hpp"
#include "graph/weights.hpp"
#include "io/tensor_data.hpp"
#include "io/tensor_store.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/quantize.hpp"
#include "passes/activation_qdq.hpp"
#include "passes/calibration.hpp"
#include "passes/candidates.hpp"
#include "passes/dynamic_int8.hpp"
#include "passes/float_conversion.hpp"
#include "passes/float_restore.hpp"
#include "passes/embedding_int4.hpp"
#include "passes/fp16_storage.hpp"
#include "passes/mixed_policy.hpp"
#include "passes/int4_matmul_nbits.hpp"
#include "passes/int4_qdq.hpp"
#include "passes/int8_qdq.hpp"
#include "passes/matmul_nbits8.hpp"
#include "passes/progress.hpp"
#include "passes/weight_format.hpp"

namespace onnxquant {

const char* to_string(ScaleSearch scale_search) {
  switch (scale_search) {
    case ScaleSearch::kAuto: return "auto";
    case ScaleSearch::kNone: return "none";
    case ScaleSearch::kMse: return "mse";
  }
  return "unknown";
}

bool searches_scales(const QuantizeOptions& options) {
  if (options.scale_search == ScaleSearch::kAuto) return options.precision == Precision::kInt4;
  return options.scale_search == ScaleSearch::kMse;
}

const char* to_string(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kPercentile: return "percentile";
    case CalibrationMethod::kMse: return "mse";
  }
  return "unknown";
}

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::kInt8: return "int8";
    case Precision::kInt4: return "int4";
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
    case Precision::kFp32: return "fp32";
  }
  return "unknown";
}

namespace {

void validate_calibration_options(const QuantizeOptions& options) {
  if (!(options.calibration_percentile > 50.0 && options.calibration_percentile <= 100.0)) {
    throw UsageError(fmt::format("--calibration-percentile {} is invalid; it must be above 50 and at most 100",
                                 options.calibration_percentile));
  }
  if (options.calibration_data.empty()) return;
  if (options.precision != Precision::kInt8 && options.precision != Precision::kInt4) {
    throw UsageError("--calibration-data applies to -p int8 and -p int4 runs");
  }
  if (options.precision == Precision::kInt8 && passes::resolve_format(options) != WeightFormat::kQdq) {
    throw UsageError("--calibration-data with -p int8 writes QDQ activations and needs --format qdq");
  }
}

}  // namespace

void validate_options(const QuantizeOptions& options) {
  const int64_t block = options.block_size;
  if (block < passes::kMinBlockSize || (block & (block - 1)) != 0) {
    throw UsageError(fmt::format("--block-size {} is invalid; it must be a power of two of at least {}", block,
                                 passes::kMinBlockSize));
  }
  if (options.min_elements < 0) {
    throw UsageError(fmt::format("--min-elements {} is invalid; it must be 0 or more", options.min_elements));
  }
  if (options.accuracy_level < 0 || options.accuracy_level > 4) {
    throw UsageError(fmt::format("--accuracy-level {} is invalid; it must be 0 to 4", options.accuracy_level));
  }
  if (options.precision == Precision::kInt4 && options.per_channel) {
    throw UsageError("--per-channel applies to -p int8; INT4 is always quantized in blocks (--block-size)");
  }
  const bool integer_run = options.precision == Precision::kInt8 || options.precision == Precision::kInt4;
  for (const auto& entry : options.overrides) {
    static const std::set<std::string> kValues = {"int4", "int8", "fp16", "fp32", "skip"};
    if (kValues.count(entry.precision) == 0 || entry.pattern.empty()) {
      throw UsageError(fmt::format("--override {}={} is invalid; use PATTERN=PRECISION with PRECISION one of int4, "
                                   "int8, fp16, fp32, skip",
                                   entry.pattern, entry.precision));
    }
    if (!integer_run) throw UsageError("--override applies to -p int8 and -p int4 runs");
  }
  if (options.mixed != MixedPolicy::kNone && options.precision != Precision::kInt4) {
    throw UsageError("--mixed applies to -p int4 runs");
  }
  if (!(options.sensitive_fraction >= 0.0 && options.sensitive_fraction <= 1.0)) {
    throw UsageError(fmt::format("--sensitive-fraction {} is invalid; it must be 0 to 1", options.sensitive_fraction));
  }
  if (options.threads < 0 || options.threads > kMaxThreads) {
    throw UsageError(fmt::format("--threads {} is invalid; it must be 0 (every hardware thread) to {}",
                                 options.threads, kMaxThreads));
  }
  passes::validate_format(options);
  validate_calibration_options(options);
}

namespace {

// Raises the ai.onnx opset to what DequantizeLinear needs. Returns whether per-channel stays possible.
bool prepare_int8_opset(onnx::ModelProto& model, bool per_channel, Report& report) {
  const int64_t opset = graph::opset_version(model, "");
  const int64_t required = per_channel ? passes::kMinOpsetPerChannel : passes::kMinOpsetDequantizeLinear;
  if (opset >= required) return per_channel;

  std::string error;
  if (graph::convert_opset(model, required, error)) {
    const std::string note = fmt::format("converted ai.onnx opset {} to {} for DequantizeLinear{}", opset, required,
                                         per_channel ? " with an axis" : "");
    spdlog::info("{}", note);
    report.notes.push_back(note);
    return per_channel;
  }
  if (per_channel && opset >= passes::kMinOpsetDequantizeLinear) {
    const std::string note = fmt::format(
        "per-channel needs ai.onnx opset {} and the ONNX version converter could not convert opset {} ({}); "
        "all weights are quantized per-tensor",
        passes::kMinOpsetPerChannel, opset, error);
    spdlog::warn("{}", note);
    report.notes.push_back(note);
    return false;
  }
  throw ModelError(fmt::format("ai.onnx opset {} has no DequantizeLinear and the ONNX version converter could not "
                               "convert the model to opset {}: {}",
                               opset, required, error));
}

// The low-SQNR note names this many tensors, the lowest first; the table and the report list all.
constexpr size_t kLowSqnrNamesShown = 8;

void warn_low_sqnr(Report& report) {
  const double threshold = report.options.precision == Precision::kInt4 ? kLowSqnrDbInt4 : kLowSqnrDbInt8;
  std::vector<const TensorReport*> low;
  for (const auto& entry : report.tensors) {
    if (entry.sqnr_db < threshold) low.push_back(&entry);
  }
  if (low.empty()) return;
  std::stable_sort(low.begin(), low.end(),
                   [](const TensorReport* a, const TensorReport* b) { return a->sqnr_db < b->sqnr_db; });
  std::vector<std::string> names;
  for (size_t i = 0; i < std::min(low.size(), kLowSqnrNamesShown); ++i) {
    names.push_back(fmt::format("{} ({:.1f} dB)", low[i]->name, low[i]->sqnr_db));
  }
  if (low.size() > kLowSqnrNamesShown) names.push_back(fmt::format("and {} more", low.size() - kLowSqnrNamesShown));
  std::string hint = "--exclude NAME keeps such tensors float";
  if (report.options.precision == Precision::kInt8 && !report.options.per_channel) {
    hint = report.opset_before >= passes::kMinOpsetPerChannel
               ? "--per-channel or --exclude NAME keeps more accuracy"
               : fmt::format("--per-channel (which needs a conversion from opset {} to 13 that can fail) or "
                             "--exclude NAME keeps more accuracy",
                             report.opset_before);
  }
  report.notes.push_back(fmt::format("{} tensors have SQNR below {:.0f} dB, which often changes model outputs; {}: {}",
                                     low.size(), threshold, hint, fmt::join(names, ", ")));
  spdlog::warn("{}", report.notes.back());
}

// Warns about --exclude names that match no node or weight, which usually are typing mistakes.
void warn_unmatched_excludes(onnx::ModelProto& model, const QuantizeOptions& options, Report& report) {
  std::set<std::string> names;
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& tensor : graph.initializer()) names.insert(tensor.name());
    for (const auto& node : graph.node()) {
      names.insert(node.name());
      for (const auto& output : node.output()) names.insert(output);
    }
  });
  for (const auto& name : options.exclude) {
    if (names.count(name) > 0) continue;
    report.notes.push_back(fmt::format("--exclude '{}' matches no node or weight name", name));
    spdlog::warn("{}", report.notes.back());
  }
}

void warn_if_nothing_quantized(Report& report) {
  if (!report.tensors.empty()) return;
  report.notes.push_back(fmt::format("no weight was quantized ({} kept float); the output has the input's weights",
                                     report.skipped.size()));
  spdlog::warn("{}", report.notes.back());
}

// Whether some MatMul reads a constant 2-D B, so that INT4 QDQ has anything to rewrite; the opset
// is raised to 21 only then.
bool has_constant_matmul_weight(onnx::ModelProto& model) {
  for (const auto& weight : graph::index_weights(model)) {
    if (weight.tensor->dims_size() != 2) continue;
    for (const auto& use : weight.uses) {
      if (use.node->op_type() == "MatMul" && use.input_index == passes::kMatMulInputB) return true;
    }
  }
  return false;
}

bool uses_domain(onnx::ModelProto& model, const std::string& domain) {
  bool found = false;
  graph::for_each_graph(*model.mutable_graph(), "main", [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& node : graph.node()) found = found || node.domain() == domain;
  });
  return found;
}

void log_tensor(size_t index, size_t total, const TensorReport& entry) {
  spdlog::info("[{}/{}] {} {} {} -> {} {}{}: {} -> {} bytes, SQNR {:.1f} dB{}", index, total, entry.name,
               io::format_shape(entry.shape), entry.dtype_before, entry.dtype_after, entry.scheme,
               entry.block_size > 0 ? fmt::format(" {}", entry.block_size) : "", entry.bytes_before, entry.bytes_after,
               entry.sqnr_db,
               entry.saturated_values > 0 ? fmt::format(", {} values saturated", entry.saturated_values) : "");
  spdlog::debug("    nodes {}, scale [{:.4g}, {:.4g}], MSE {:.4g}, max abs error {:.4g}, cosine {:.6f}",
                fmt::join(entry.nodes, ", "), entry.scale_min, entry.scale_max, entry.mse, entry.max_abs_error,
                entry.cosine_similarity);
}


// Returns why the calibration data, or the calibration method, has no effect on an INT4 run with
// these options. Returns an empty string when it has an effect or the run is not INT4 with data.
std::string unused_calibration_reason(const QuantizeOptions& options) {
  if (options.precision != Precision::kInt4 || options.calibration_data.empty()) return "";
  if (passes::resolve_format(options) == WeightFormat::kQdq) {
    return "--calibration-data has no effect with -p int4 --format qdq: only INT4 MatMulNBits weights use the "
           "input-channel importance from the calibration data; use --format matmulnbits for activation-aware INT4";
  }
  if (!searches_scales(options)) {
    return "--calibration-data has no effect with -p int4 --scale-search none: INT4 uses the calibration data only "
           "to weight the block scale search, which --scale-search none turns off";
  }
  if (options.calibration_method != CalibrationMethod::kMinMax) {
    return fmt::format("--calibration-method {} has no effect with -p int4: INT4 uses only the mean square of each "
                       "input channel of the calibration activations; the method chooses INT8 activation ranges",
                       to_string(options.calibration_method));
  }
  return "";
}

void report_unused_calibration(const QuantizeOptions& options, Report& report) {
  const std::string reason = unused_calibration_reason(options);
  if (reason.empty()) return;
  report.notes.push_back(reason);
  spdlog::warn("{}", reason);
}

void report_non_finite(const passes::Calibration& calibration, Report& report) {
  for (const auto& [name, data] : calibration.activations) {
    if (data.non_finite == 0) continue;
    report.notes.push_back(fmt::format("calibration: activation '{}' had {} NaN or infinite values, left out of its "
                                       "statistics",
                                       name, data.non_finite));
    spdlog::warn("{}", report.notes.back());
  }
}

// Float conversion: FP16 or BF16 storage and computation.
void convert_float(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options, Report& report) {
  const bool is_bf16 = options.precision == Precision::kBf16;
  // Cast supports bfloat16 from opset 13.
  constexpr int64_t kMinOpsetBfloat16 = 13;
  if (is_bf16 && graph::opset_version(model, "") < kMinOpsetBfloat16) {
    std::string error;
    if (!graph::convert_opset(model, kMinOpsetBfloat16, error)) {
      throw ModelError(fmt::format("bfloat16 needs ai.onnx opset {} and the ONNX version converter could not "
                                   "convert opset {}: {}",
                                   kMinOpsetBfloat16, graph::opset_version(model, ""), error));
    }
    report.notes.push_back(fmt::format("converted ai.onnx opset to {} for bfloat16 Casts", kMinOpsetBfloat16));
  }
  passes::convert_float_model(model, store, options, is_bf16 ? onnx::TensorProto::BFLOAT16 : onnx::TensorProto::FLOAT16,
                              report);
  for (size_t i = 0; i < report.tensors.size(); ++i) log_tensor(i + 1, report.tensors.size(), report.tensors[i]);
  report.opset_after = graph::opset_version(model, "");
}

void quantize_with_store(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options,
                         Report& report, const ProgressCallback& progress) {
  validate_options(options);
  report.options = options;
  report.opset_before = graph::opset_version(model, "");
  report_unused_calibration(options, report);
  std::optional<passes::Calibration> calibration;
  if (!options.calibration_data.empty()) {
    calibration = passes::calibrate(model, passes::calibration_targets(model), options);
    report.calibration_samples = calibration->samples;
    report_non_finite(*calibration, report);
  }
  if (options.precision == Precision::kFp16 || options.precision == Precision::kBf16) {
    convert_float(model, store, options, report);
    passes::report_all_done(report, progress);
    return;
  }
  if (options.precision == Precision::kFp32) {
    passes::restore_float32(model, store, options, report);
    if (report.tensors.empty()) {
      report.notes.push_back("nothing to restore: the model has no float16, bfloat16 or quantized weights");
      spdlog::warn("{}", report.notes.back());
    }
    report.opset_after = graph::opset_version(model, "");
    passes::report_all_done(report, progress);
    return;
  }

  // INT8 weights in an INT4 run (overrides, mixed policy) are quantized per channel in QDQ form.
  const bool int4_run = options.precision == Precision::kInt4;
  WeightFormat format = passes::resolve_format(options);
  const bool may_use_int8_qdq = (options.precision == Precision::kInt8 && format == WeightFormat::kQdq) ||
                                options.mixed != MixedPolicy::kNone ||
                                std::any_of(options.overrides.begin(), options.overrides.end(),
                                            [](const auto& entry) { return entry.precision == "int8"; });
  passes::Int8Settings int8_settings{options.per_channel || int4_run, options.asymmetric};
  if (may_use_int8_qdq) int8_settings.per_channel = prepare_int8_opset(model, int8_settings.per_channel, report);
  if (int4_run && format == WeightFormat::kQdq && has_constant_matmul_weight(model) &&
      !passes::prepare_int4_qdq_opset(model, report)) {
    format = WeightFormat::kMatMulNBits;
  }
  if (format == WeightFormat::kDynamic) passes::prepare_dynamic_opset(model, report);
  report.options.format = format;

  warn_unmatched_excludes(model, options, report);
  // Index after any opset conversion, which replaces the model's messages.
  std::vector<graph::Weight> weights = graph::index_weights(model);
  graph::NameAllocator names(model);
  passes::GraphEdits edits(&store);
  passes::PassContext context{options, edits, names, report, store, calibration ? &*calibration : nullptr};
  passes::DynamicInt8Pass dynamic(context);

  std::vector<passes::Candidate> candidates = passes::select_candidates(weights, options, report);
  if (options.mixed == MixedPolicy::kSensitive) passes::apply_sensitive_policy(model, store, candidates, options, report);
  // Embedding tables go first, so a tied lm_head is found before its own pass would run.
  std::stable_partition(candidates.begin(), candidates.end(), [](const passes::Candidate& candidate) {
    return std::any_of(candidate.weight->uses.begin(), candidate.weight->uses.end(), passes::is_embedding_use);
  });
  passes::ProgressCounter progress_counter(candidates, progress);
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].done) {
      progress_counter.finish(i);
      continue;
    }
    const size_t before = report.tensors.size();
    const bool embedding = std::any_of(candidates[i].weight->uses.begin(), candidates[i].weight->uses.end(),
                                       passes::is_embedding_use);
    const bool int8_run = options.precision == Precision::kInt8;
    switch (candidates[i].plan) {
      case passes::WeightPlan::kInt8:
        if (int8_run && format == WeightFormat::kDynamic) {
          dynamic.quantize(candidates[i]);
        } else if (int8_run && format == WeightFormat::kMatMulNBits) {
          passes::quantize_weight_matmul_nbits8(candidates[i], context);
        } else {
          passes::quantize_weight_int8(candidates[i], int8_settings, context);
        }
        break;
      case passes::WeightPlan::kInt4:
        if (embedding) {
          passes::quantize_embedding_int4(candidates[i], candidates, context);
        } else if (int4_run && format == WeightFormat::kQdq) {
          passes::quantize_weight_int4_qdq(candidates[i], context);
        } else {
          passes::quantize_weight_int4(candidates[i], context);
        }
        break;
      case passes::WeightPlan::kFp16Storage: passes::store_weight_float16(candidates[i], context); break;
    }
    if (report.tensors.size() > before) {
      report.tensors.back().precision_source = candidates[i].precision_source;
      log_tensor(i + 1, candidates.size(), report.tensors.back());
    }
    progress_counter.finish(i);
  }
  dynamic.finish();
  edits.apply();
  if (calibration && options.precision == Precision::kInt8) {
    passes::quantize_activations(model, *calibration, options, names, report);
  } else if (calibration) {
    for (const auto& [name, data] : calibration->activations) report.activations.push_back(passes::describe_activation(name, data, options));
  }
  warn_low_sqnr(report);
  warn_if_nothing_quantized(report);

  for (const auto& skipped : report.skipped) spdlog::debug("kept float: {} ({})", skipped.name, skipped.reason);
  if (uses_domain(model, graph::kMicrosoftDomain)) {
    graph::add_opset_import(model, graph::kMicrosoftDomain, passes::kMicrosoftOpsetVersion);
  }
  report.opset_after = graph::opset_version(model, "");
}

}  // namespace

void quantize_model(onnx::ModelProto& model, const QuantizeOptions& options, Report& report,
                    const ProgressCallback& progress) {
  io::TensorStore inline_only;
  quantize_with_store(model, inline_only, options, report, progress);
}

void quantize_model(Model& model, const QuantizeOptions& options, Report& report, const ProgressCallback& progress) {
  model.store->read_small_tensors(model.proto);
  quantize_with_store(model.proto, *model.store, options, report, progress);
}

}  // namespace onnxquant
