// Spatial geometry shared by Conv, ConvTranspose and the pooling operators: kernel, strides,
// dilations and pads of [N, C, D1, ..., Dk] tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/attributes.hpp"

namespace onnxquant::eval {

struct SpatialGeometry {
  std::vector<int64_t> input;   // D1..Dk
  std::vector<int64_t> kernel;  // k1..kk
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pad_begin;
  std::vector<int64_t> pad_end;
  std::vector<int64_t> output;

  int64_t input_size() const;
  int64_t kernel_size() const;
  int64_t output_size() const;
};

// Reads kernel_shape (or takes `kernel` when the attribute is absent), strides, dilations, pads
// and auto_pad, and computes the output size of a convolution or pooling window. With ceil_mode
// the last window is kept when it starts inside the input or the begin pad.
SpatialGeometry window_geometry(const NodeAttributes& attributes, const std::vector<int64_t>& input,
                                const std::vector<int64_t>& kernel, bool ceil_mode);

// Checks auto_pad against the values ONNX defines.
void check_auto_pad(const NodeAttributes& attributes);

}  // namespace onnxquant::eval
