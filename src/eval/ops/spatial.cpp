#include "eval/ops/spatial.hpp"

#include <fmt/format.h>

#include "eval/kernel.hpp"
#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {

int64_t SpatialGeometry::input_size() const { return product(input); }
int64_t SpatialGeometry::kernel_size() const { return product(kernel); }
int64_t SpatialGeometry::output_size() const { return product(output); }

void check_auto_pad(const NodeAttributes& attributes) {
  const std::string auto_pad = attributes.get_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID") {
    throw NotSupported(fmt::format("auto_pad '{}' is not defined", auto_pad));
  }
}

SpatialGeometry window_geometry(const NodeAttributes& attributes, const std::vector<int64_t>& input,
                                const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t rank = input.size();
  SpatialGeometry g;
  g.input = input;
  g.kernel = attributes.get_ints("kernel_shape", kernel);
  g.strides = attributes.get_ints("strides", std::vector<int64_t>(rank, 1));
  g.dilations = attributes.get_ints("dilations", std::vector<int64_t>(rank, 1));
  std::vector<int64_t> pads = attributes.get_ints("pads", std::vector<int64_t>(2 * rank, 0));
  if (g.kernel.size() != rank || g.strides.size() != rank || g.dilations.size() != rank || pads.size() != 2 * rank) {
    throw ModelError(fmt::format("kernel_shape, strides, dilations and pads do not match {} spatial dimensions", rank));
  }
  const std::string auto_pad = attributes.get_string("auto_pad", "NOTSET");
  g.pad_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(rank));
  g.pad_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(rank), pads.end());
  g.output.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (g.strides[i] <= 0 || g.dilations[i] <= 0 || g.kernel[i] <= 0) {
      throw ModelError("kernel_shape, strides and dilations must be positive");
    }
    const int64_t extent = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.output[i] = (input[i] + g.strides[i] - 1) / g.strides[i];
      const int64_t total = std::max<int64_t>(0, (g.output[i] - 1) * g.strides[i] + extent - input[i]);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      continue;
    }
    if (auto_pad == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
    const int64_t span = input[i] + g.pad_begin[i] + g.pad_end[i] - extent;
    if (span < 0) throw ModelError(fmt::format("the window of {} is larger than the padded input of {}", extent, span + extent));
    g.output[i] = (ceil_mode ? (span + g.strides[i] - 1) / g.strides[i] : span / g.strides[i]) + 1;
    // A window that would start in the end pad is dropped, as ONNX Runtime and PyTorch do.
    if (ceil_mode && (g.output[i] - 1) * g.strides[i] >= input[i] + g.pad_begin[i]) --g.output[i];
  }
  return g;
}

}  // namespace onnxquant::eval
