// Conv and ConvTranspose over any number of spatial dimensions: im2col (or col2im) and a matrix
// product per group, with a direct loop for depthwise 2-D convolutions.
#include <cstring>
#include <fmt/format.h>

#include "eval/gemm.hpp"
#include "eval/ops/common.hpp"
#include "eval/ops/spatial.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// The output positions [begin, end) along one axis whose input position
// o * stride - pad + k * dilation lies inside [0, input) for kernel offset k.
struct ValidRange {
  int64_t begin = 0;
  int64_t end = 0;
};

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

ValidRange valid_range(int64_t k, int64_t input, int64_t output, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t shift = k * dilation - pad;  // input position of output 0
  ValidRange range;
  range.begin = std::max<int64_t>(0, -floor_div(shift, stride));
  range.end = std::min<int64_t>(output, floor_div(input - 1 - shift, stride) + 1);
  if (range.end < range.begin) range.end = range.begin;
  return range;
}

// Calls visit(output_index, kernel_index, input_index) for the input element each kernel position
// of each output position reads, skipping positions in the padding.
template <typename Visit>
void for_each_tap(const SpatialGeometry& g, Visit&& visit) {
  const size_t rank = g.input.size();
  if (rank == 0) return;
  const int64_t outputs = g.output_size();
  const int64_t kernels = g.kernel_size();
  std::vector<int64_t> out_index(rank, 0);
  std::vector<int64_t> kernel_index(rank, 0);
  for (int64_t o = 0; o < outputs; ++o) {
    std::fill(kernel_index.begin(), kernel_index.end(), 0);
    for (int64_t k = 0; k < kernels; ++k) {
      int64_t input_index = 0;
      bool inside = true;
      for (size_t d = 0; d < rank && inside; ++d) {
        const int64_t position = out_index[d] * g.strides[d] - g.pad_begin[d] + kernel_index[d] * g.dilations[d];
        inside = position >= 0 && position < g.input[d];
        input_index = input_index * g.input[d] + position;
      }
      if (inside) visit(o, k, input_index);
      for (size_t d = rank; d-- > 0;) {
        if (++kernel_index[d] < g.kernel[d]) break;
        kernel_index[d] = 0;
      }
    }
    for (size_t d = rank; d-- > 0;) {
      if (++out_index[d] < g.output[d]) break;
      out_index[d] = 0;
    }
  }
}

// Builds col [channels * kernel_size, output_size] from one image [channels, input_size].
template <typename T>
void im2col(const SpatialGeometry& g, const T* image, int64_t channels, T* col, ThreadPool& pool) {
  const int64_t outputs = g.output_size();
  const int64_t kernels = g.kernel_size();
  const int64_t inputs = g.input_size();
  if (g.input.size() == 2) {
    // The common 2-D case: per row, zeros where the kernel offset reads padding and a copy of the
    // valid input span elsewhere.
    const int64_t width = g.input[1];
    const int64_t out_h = g.output[0], out_w = g.output[1];
    pool.parallel_for(channels * kernels, grain_for(outputs), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t c = row / kernels;
        const int64_t kh = row % kernels / g.kernel[1];
        const int64_t kw = row % g.kernel[1];
        const ValidRange rows = valid_range(kh, g.input[0], out_h, g.strides[0], g.pad_begin[0], g.dilations[0]);
        const ValidRange columns = valid_range(kw, width, out_w, g.strides[1], g.pad_begin[1], g.dilations[1]);
        const T* plane = image + c * inputs;
        T* out = col + row * outputs;
        std::fill(out, out + rows.begin * out_w, T(0));
        for (int64_t oh = rows.begin; oh < rows.end; ++oh) {
          const int64_t ih = oh * g.strides[0] - g.pad_begin[0] + kh * g.dilations[0];
          T* line = out + oh * out_w;
          std::fill(line, line + columns.begin, T(0));
          const T* source = plane + ih * width + columns.begin * g.strides[1] - g.pad_begin[1] + kw * g.dilations[1];
          const int64_t count = columns.end - columns.begin;
          if (g.strides[1] == 1) {
            std::memcpy(line + columns.begin, source, static_cast<size_t>(count) * sizeof(T));
          } else {
            for (int64_t i = 0; i < count; ++i) line[columns.begin + i] = source[i * g.strides[1]];
          }
          std::fill(line + columns.end, line + out_w, T(0));
        }
        std::fill(out + rows.end * out_w, out + outputs, T(0));
      }
    });
    return;
  }
  std::memset(col, 0, static_cast<size_t>(channels * kernels * outputs) * sizeof(T));
  for (int64_t c = 0; c < channels; ++c) {
    for_each_tap(g, [&](int64_t o, int64_t k, int64_t i) { col[(c * kernels + k) * outputs + o] = image[c * inputs + i]; });
  }
}

// Adds col [channels * kernel_size, output_size] back into an image [channels, input_size]: the
// transpose of im2col, for ConvTranspose where "output" is the convolution's input.
template <typename T>
void col2im(const SpatialGeometry& g, const T* col, int64_t channels, T* image, ThreadPool& pool) {
  const int64_t outputs = g.output_size();
  const int64_t kernels = g.kernel_size();
  const int64_t inputs = g.input_size();
  if (g.input.size() == 2) {
    // Channels write disjoint planes, so they run in parallel; kernel offsets of one channel add to
    // the same plane and run in order.
    const int64_t width = g.input[1];
    const int64_t out_w = g.output[1];
    pool.parallel_for(channels, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        for (int64_t k = 0; k < kernels; ++k) {
          const int64_t kh = k / g.kernel[1], kw = k % g.kernel[1];
          const ValidRange rows = valid_range(kh, g.input[0], g.output[0], g.strides[0], g.pad_begin[0], g.dilations[0]);
          const ValidRange columns = valid_range(kw, width, out_w, g.strides[1], g.pad_begin[1], g.dilations[1]);
          for (int64_t oh = rows.begin; oh < rows.end; ++oh) {
            const int64_t ih = oh * g.strides[0] - g.pad_begin[0] + kh * g.dilations[0];
            T* target = image + c * inputs + ih * width + columns.begin * g.strides[1] - g.pad_begin[1] + kw * g.dilations[1];
            const T* source = col + (c * kernels + k) * outputs + oh * out_w;
            for (int64_t i = columns.begin; i < columns.end; ++i) target[(i - columns.begin) * g.strides[1]] += source[i];
          }
        }
      }
    });
    return;
  }
  for (int64_t c = 0; c < channels; ++c) {
    for_each_tap(g, [&](int64_t o, int64_t k, int64_t i) { image[c * inputs + i] += col[(c * kernels + k) * outputs + o]; });
  }
}

struct ConvShapes {
  int64_t batch = 0, channels = 0, features = 0, groups = 1;
  SpatialGeometry geometry;
};

// A 2-D convolution with one input channel per group: a direct loop per output channel.
template <typename T>
void depthwise_2d(const ConvShapes& s, const T* x, const T* w, T* y, ThreadPool& pool) {
  const SpatialGeometry& g = s.geometry;
  const int64_t multiplier = s.features / s.groups;
  pool.parallel_for(s.batch * s.features, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t n = nm / s.features, m = nm % s.features;
      const T* plane = x + (n * s.channels + m / multiplier) * g.input_size();
      const T* kernel = w + m * g.kernel_size();
      T* out = y + nm * g.output_size();
      std::fill(out, out + g.output_size(), T(0));
      // Accumulate one kernel tap at a time over the output span that reads inside the input.
      for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
        const ValidRange rows = valid_range(kh, g.input[0], g.output[0], g.strides[0], g.pad_begin[0], g.dilations[0]);
        for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
          const ValidRange columns = valid_range(kw, g.input[1], g.output[1], g.strides[1], g.pad_begin[1], g.dilations[1]);
          const T weight = kernel[kh * g.kernel[1] + kw];
          const int64_t count = columns.end - columns.begin;
          for (int64_t oh = rows.begin; oh < rows.end; ++oh) {
            const int64_t ih = oh * g.strides[0] - g.pad_begin[0] + kh * g.dilations[0];
            const T* source = plane + ih * g.input[1] + columns.begin * g.strides[1] - g.pad_begin[1] + kw * g.dilations[1];
            T* target = out + oh * g.output[1] + columns.begin;
            if (g.strides[1] == 1) {
              for (int64_t i = 0; i < count; ++i) target[i] += weight * source[i];
            } else {
              for (int64_t i = 0; i < count; ++i) target[i] += weight * source[i * g.strides[1]];
            }
          }
        }
      }
    }
  });
}

template <typename T>
void conv_forward(const ConvShapes& s, const T* x, const T* w, const T* bias, T* y, ThreadPool& pool) {
  const SpatialGeometry& g = s.geometry;
  const int64_t group_channels = s.channels / s.groups;
  const int64_t group_features = s.features / s.groups;
  const int64_t rows = group_channels * g.kernel_size();
  const int64_t outputs = g.output_size();
  if (group_channels == 1 && g.input.size() == 2) {
    depthwise_2d(s, x, w, y, pool);
  } else {
    bool pointwise = g.kernel_size() == 1;
    for (size_t d = 0; d < g.input.size(); ++d) {
      pointwise = pointwise && g.strides[d] == 1 && g.pad_begin[d] == 0 && g.pad_end[d] == 0;
    }
    std::vector<T> col(pointwise ? 0 : static_cast<size_t>(rows * outputs));
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t group = 0; group < s.groups; ++group) {
        const T* image = x + (n * s.channels + group * group_channels) * g.input_size();
        // A 1x1 kernel with stride 1 and no padding reads the image as its own column matrix.
        if (!pointwise) im2col(g, image, group_channels, col.data(), pool);
        gemm<T>(packed_gemm_shape(group_features, outputs, rows), T(1), w + group * group_features * rows,
                pointwise ? image : col.data(), T(0), y + (n * s.features + group * group_features) * outputs, pool);
      }
    }
  }
  if (bias != nullptr) {
    for (int64_t nm = 0; nm < s.batch * s.features; ++nm) {
      T* out = y + nm * outputs;
      const T b = bias[nm % s.features];
      for (int64_t i = 0; i < outputs; ++i) out[i] += b;
    }
  }
}

// The type a convolution computes in: float32 or double, and float32 for the 16-bit floats.
int32_t compute_type(int32_t dtype) {
  if (dtype == onnx::TensorProto::DOUBLE) return dtype;
  if (dtype == onnx::TensorProto::FLOAT || dtype == onnx::TensorProto::FLOAT16 || dtype == onnx::TensorProto::BFLOAT16) {
    return onnx::TensorProto::FLOAT;
  }
  throw_unsupported_dtype(dtype, "X");
}

// Converts X, W and B to the compute type, runs `kernel` and converts Y back to X's type.
template <typename Kernel>
void run_in_compute_type(KernelContext& c, const ConvShapes& s, std::vector<int64_t> shape, Kernel kernel) {
  const Tensor& x = c.input(0);
  const Tensor* bias = c.optional_input(2);
  const int32_t compute = compute_type(x.dtype);
  const Tensor x_c = cast_to(x, compute, c.pool());
  const Tensor w_c = cast_to(c.input(1), compute, c.pool());
  const Tensor b_c = bias != nullptr ? cast_to(*bias, compute, c.pool()) : Tensor{};
  Tensor y = make_tensor(compute, std::move(shape));
  auto typed = [&](auto tag) {
    using T = decltype(tag);
    kernel(s, x_c.values<T>().data(), w_c.values<T>().data(), bias != nullptr ? b_c.values<T>().data() : nullptr,
           y.values<T>().data(), c.pool());
  };
  if (compute == onnx::TensorProto::FLOAT) {
    typed(float{});
  } else {
    typed(double{});
  }
  c.set_output(0, cast_to(y, x.dtype, c.pool()));
}

void run_conv(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  if (x.shape.size() < 3 || w.shape.size() != x.shape.size()) throw ModelError("Conv needs X [N, C, D...] and W [M, C/group, k...]");
  ConvShapes s;
  s.batch = x.shape[0];
  s.channels = x.shape[1];
  s.features = w.shape[0];
  s.groups = c.attributes().get_int("group", 1);
  if (s.groups <= 0 || s.channels % s.groups != 0 || s.features % s.groups != 0 || w.shape[1] != s.channels / s.groups) {
    throw ModelError(fmt::format("W of shape {} does not fit {} channels in {} groups", shape_text(w.shape), s.channels, s.groups));
  }
  const std::vector<int64_t> spatial(x.shape.begin() + 2, x.shape.end());
  const std::vector<int64_t> kernel(w.shape.begin() + 2, w.shape.end());
  s.geometry = window_geometry(c.attributes(), spatial, kernel, false);
  if (s.geometry.kernel != kernel) throw ModelError("kernel_shape does not match W");
  std::vector<int64_t> shape = {s.batch, s.features};
  shape.insert(shape.end(), s.geometry.output.begin(), s.geometry.output.end());

  run_in_compute_type(c, s, shape, [](const ConvShapes& shapes, const auto* in, const auto* weight, const auto* b,
                                       auto* out, ThreadPool& pool) { conv_forward(shapes, in, weight, b, out, pool); });
}

void check_conv(const onnx::NodeProto&, const NodeAttributes& attributes, int) { check_auto_pad(attributes); }

// ConvTranspose geometry: the convolution that maps the output back to the input.
SpatialGeometry transpose_geometry(const NodeAttributes& attributes, const std::vector<int64_t>& input,
                                   const std::vector<int64_t>& kernel) {
  const size_t rank = input.size();
  SpatialGeometry g;
  g.kernel = attributes.get_ints("kernel_shape", kernel);
  g.strides = attributes.get_ints("strides", std::vector<int64_t>(rank, 1));
  g.dilations = attributes.get_ints("dilations", std::vector<int64_t>(rank, 1));
  const std::vector<int64_t> output_padding = attributes.get_ints("output_padding", std::vector<int64_t>(rank, 0));
  std::vector<int64_t> pads = attributes.get_ints("pads", std::vector<int64_t>(2 * rank, 0));
  const auto output_shape = attributes.find_ints("output_shape");
  const std::string auto_pad = attributes.get_string("auto_pad", "NOTSET");
  if (g.kernel != kernel || g.strides.size() != rank || g.dilations.size() != rank || output_padding.size() != rank ||
      pads.size() != 2 * rank) {
    throw ModelError("kernel_shape, strides, dilations, output_padding and pads do not match W and X");
  }
  g.pad_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(rank));
  g.pad_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(rank), pads.end());
  // The transposed convolution's output is the convolution's input, and the reverse.
  g.output = input;
  g.input.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t extent = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t full = g.strides[i] * (input[i] - 1) + output_padding[i] + extent;
    int64_t target = -1;
    if (output_shape) {
      const size_t offset = output_shape->size() - rank;  // output_shape may include N and C
      target = (*output_shape)[offset + i];
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      target = input[i] * g.strides[i];
    }
    if (target >= 0) {
      // An output larger than the full result gets its extra elements at the end, as in ONNX
      // Runtime: the total padding is at least 0.
      const int64_t total = std::max<int64_t>(0, full - target);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      g.input[i] = target;
      continue;
    }
    if (auto_pad == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
    g.input[i] = full - g.pad_begin[i] - g.pad_end[i];
    if (g.input[i] <= 0) throw ModelError("the pads leave an empty output");
  }
  return g;
}

template <typename T>
void conv_transpose(const ConvShapes& s, const T* x, const T* w, const T* bias, T* y, ThreadPool& pool) {
  const SpatialGeometry& g = s.geometry;  // g.output is X's spatial size, g.input is Y's
  const int64_t group_channels = s.channels / s.groups;
  const int64_t group_features = s.features / s.groups;
  const int64_t rows = group_features * g.kernel_size();
  const int64_t positions = g.output_size();
  std::vector<T> col(static_cast<size_t>(rows * positions));
  std::fill(y, y + s.batch * s.features * g.input_size(), T(0));
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t group = 0; group < s.groups; ++group) {
      // col = W[group]^T * X[group]: W is [C, M / group, k...], so W^T is [M / group * k, C / group].
      gemm<T>(packed_gemm_shape(rows, positions, group_channels, true, false), T(1), w + group * group_channels * rows,
              x + (n * s.channels + group * group_channels) * positions, T(0), col.data(), pool);
      col2im(g, col.data(), group_features, y + (n * s.features + group * group_features) * g.input_size(), pool);
    }
  }
  if (bias != nullptr) {
    for (int64_t nm = 0; nm < s.batch * s.features; ++nm) {
      T* out = y + nm * g.input_size();
      for (int64_t i = 0; i < g.input_size(); ++i) out[i] += bias[nm % s.features];
    }
  }
}

void run_conv_transpose(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  if (x.shape.size() < 3 || w.shape.size() != x.shape.size()) throw ModelError("ConvTranspose needs X [N, C, D...] and W [C, M/group, k...]");
  ConvShapes s;
  s.batch = x.shape[0];
  s.channels = x.shape[1];
  s.groups = c.attributes().get_int("group", 1);
  s.features = w.shape[1] * s.groups;
  if (s.groups <= 0 || w.shape[0] != s.channels || s.channels % s.groups != 0) {
    throw ModelError(fmt::format("W of shape {} does not fit {} channels in {} groups", shape_text(w.shape), s.channels, s.groups));
  }
  const std::vector<int64_t> spatial(x.shape.begin() + 2, x.shape.end());
  const std::vector<int64_t> kernel(w.shape.begin() + 2, w.shape.end());
  s.geometry = transpose_geometry(c.attributes(), spatial, kernel);
  std::vector<int64_t> shape = {s.batch, s.features};
  shape.insert(shape.end(), s.geometry.input.begin(), s.geometry.input.end());
  run_in_compute_type(c, s, shape, [](const ConvShapes& shapes, const auto* in, const auto* weight, const auto* b,
                                       auto* out, ThreadPool& pool) { conv_transpose(shapes, in, weight, b, out, pool); });
}

}  // namespace

void register_conv_ops(OperatorTable& table) {
  const std::vector<std::string> attributes = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"};
  table.add(make_spec("Conv", 1, run_conv, attributes, check_conv));
  std::vector<std::string> transpose_attributes = attributes;
  transpose_attributes.insert(transpose_attributes.end(), {"output_padding", "output_shape"});
  table.add(make_spec("ConvTranspose", 1, run_conv_transpose, transpose_attributes, check_conv));
}

}  // namespace onnxquant::eval
