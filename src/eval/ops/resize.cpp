// Resize (opset 11 and later): nearest, linear and cubic interpolation over any axes, with every
// coordinate transformation mode of the specification.
#include <cmath>
#include <fmt/format.h>

#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Interpolation taps of one output coordinate along one axis: input indices and weights. An empty
// list marks a coordinate outside the input in tf_crop_and_resize mode (extrapolation).
struct Taps {
  std::vector<int64_t> indices;
  std::vector<double> weights;
};

struct ResizeOptions {
  std::string mode;
  std::string coordinate_mode;
  std::string nearest_mode;
  double cubic_a = -0.75;
  bool exclude_outside = false;
};

double original_coordinate(const ResizeOptions& o, int64_t x, double scale, int64_t in, int64_t out, double roi_start,
                           double roi_end) {
  const double xr = static_cast<double>(x);
  const std::string& mode = o.coordinate_mode;
  if (mode == "asymmetric") return xr / scale;
  if (mode == "pytorch_half_pixel") return out > 1 ? (xr + 0.5) / scale - 0.5 : 0.0;
  if (mode == "align_corners") return out == 1 ? 0.0 : xr * static_cast<double>(in - 1) / static_cast<double>(out - 1);
  if (mode == "tf_half_pixel_for_nn") return (xr + 0.5) / scale;
  if (mode == "tf_crop_and_resize") {
    if (out > 1) return roi_start * static_cast<double>(in - 1) + xr * (roi_end - roi_start) * static_cast<double>(in - 1) / static_cast<double>(out - 1);
    return 0.5 * (roi_start + roi_end) * static_cast<double>(in - 1);
  }
  if (mode == "half_pixel_symmetric") {
    const double adjustment = static_cast<double>(out) / (scale * static_cast<double>(in));
    const double center = static_cast<double>(in) / 2.0;
    return center * (1.0 - adjustment) + (xr + 0.5) / scale - 0.5;
  }
  return (xr + 0.5) / scale - 0.5;  // half_pixel
}

int64_t nearest_index(const ResizeOptions& o, double x) {
  const std::string& mode = o.nearest_mode;
  if (mode == "floor") return static_cast<int64_t>(std::floor(x));
  if (mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  const double lower = std::floor(x);
  if (x - lower == 0.5) return static_cast<int64_t>(mode == "round_prefer_ceil" ? lower + 1 : lower);
  return static_cast<int64_t>(std::round(x));
}

double cubic_weight(double distance, double a) {
  const double d = std::abs(distance);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

Taps axis_taps(const ResizeOptions& o, int64_t x, double scale, int64_t in, int64_t out, double roi_start, double roi_end) {
  const double source = original_coordinate(o, x, scale, in, out, roi_start, roi_end);
  Taps taps;
  if (o.coordinate_mode == "tf_crop_and_resize" && (source < 0 || source > static_cast<double>(in - 1))) return taps;
  auto clamp = [in](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
  if (o.mode == "nearest") {
    taps.indices = {clamp(nearest_index(o, source))};
    taps.weights = {1.0};
    return taps;
  }
  if (o.mode == "linear") {
    const double clamped = std::clamp(source, 0.0, static_cast<double>(in - 1));
    const int64_t lower = static_cast<int64_t>(std::floor(clamped));
    const double ratio = clamped - static_cast<double>(lower);
    taps.indices = {lower, clamp(lower + 1)};
    taps.weights = {1.0 - ratio, ratio};
    return taps;
  }
  // cubic: four neighbors; edge values repeat outside the input unless exclude_outside drops them.
  const int64_t lower = static_cast<int64_t>(std::floor(source));
  const double ratio = source - static_cast<double>(lower);
  double total = 0;
  for (int64_t k = -1; k <= 2; ++k) {
    const int64_t index = lower + k;
    double weight = cubic_weight(ratio - static_cast<double>(k), o.cubic_a);
    if (o.exclude_outside && (index < 0 || index >= in)) weight = 0;
    taps.indices.push_back(clamp(index));
    taps.weights.push_back(weight);
    total += weight;
  }
  if (o.exclude_outside && total != 0) {
    for (double& weight : taps.weights) weight /= total;
  }
  return taps;
}

// The output sizes and scales per axis from the 'scales' or 'sizes' input, for the axes listed
// (all by default), with keep_aspect_ratio_policy applied to sizes.
void output_geometry(KernelContext& c, const std::vector<int64_t>& shape, std::vector<int64_t>& sizes,
                     std::vector<double>& scales, std::vector<double>& roi_start, std::vector<double>& roi_end) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes = c.attributes().get_ints("axes");
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  axes = normalize_axes(axes, rank);
  sizes = shape;
  scales.assign(shape.size(), 1.0);
  roi_start.assign(shape.size(), 0.0);
  roi_end.assign(shape.size(), 1.0);
  const size_t count = axes.size();
  if (const Tensor* roi = c.optional_input(1); roi != nullptr && roi->element_count() > 0) {
    const std::vector<float> values = read_floats(*roi, "roi");
    if (values.size() == 2 * count) {
      for (size_t i = 0; i < count; ++i) {
        roi_start[static_cast<size_t>(axes[i])] = values[i];
        roi_end[static_cast<size_t>(axes[i])] = values[i + count];
      }
    }
  }
  const Tensor* scales_input = c.optional_input(2);
  const Tensor* sizes_input = c.optional_input(3);
  if (scales_input != nullptr && scales_input->element_count() > 0) {
    const std::vector<float> values = read_floats(*scales_input, "scales");
    if (values.size() != count) throw ModelError(fmt::format("scales has {} values for {} axes", values.size(), count));
    for (size_t i = 0; i < count; ++i) {
      const size_t axis = static_cast<size_t>(axes[i]);
      if (values[i] <= 0) throw ModelError("scales must be positive");
      scales[axis] = values[i];
      sizes[axis] = static_cast<int64_t>(std::floor(static_cast<double>(shape[axis]) * values[i]));
    }
    return;
  }
  if (sizes_input == nullptr) throw ModelError("Resize needs scales or sizes");
  const std::vector<int64_t> values = read_int64s(*sizes_input, "sizes");
  if (values.size() != count) throw ModelError(fmt::format("sizes has {} values for {} axes", values.size(), count));
  const std::string policy = c.attributes().get_string("keep_aspect_ratio_policy", "stretch");
  double common = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
  for (size_t i = 0; i < count; ++i) {
    const double ratio = static_cast<double>(values[i]) / static_cast<double>(shape[static_cast<size_t>(axes[i])]);
    common = policy == "not_larger" ? std::min(common, ratio) : std::max(common, ratio);
  }
  for (size_t i = 0; i < count; ++i) {
    const size_t axis = static_cast<size_t>(axes[i]);
    if (policy == "stretch") {
      sizes[axis] = values[i];
      scales[axis] = static_cast<double>(values[i]) / static_cast<double>(shape[axis]);
    } else {
      scales[axis] = common;
      sizes[axis] = static_cast<int64_t>(std::round(static_cast<double>(shape[axis]) * common));
    }
  }
}

// Interpolates along one axis: values [outer, taps.size() = output, inner] from [outer, input, inner].
std::vector<double> resize_axis(const std::vector<double>& values, int64_t outer, int64_t input, int64_t inner,
                                const std::vector<Taps>& taps, ThreadPool& pool) {
  const int64_t output = static_cast<int64_t>(taps.size());
  std::vector<double> result(static_cast<size_t>(outer * output * inner), 0.0);
  pool.parallel_for(outer * output, grain_for(inner * 4), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / output;
      const Taps& tap = taps[static_cast<size_t>(row % output)];
      double* target = result.data() + row * inner;
      for (size_t t = 0; t < tap.indices.size(); ++t) {
        const double* source = values.data() + (o * input + tap.indices[t]) * inner;
        const double weight = tap.weights[t];
        for (int64_t i = 0; i < inner; ++i) target[i] += weight * source[i];
      }
    }
  });
  return result;
}

// Resizes axis by axis; the weights of linear and cubic interpolation are products over axes, so
// the passes give the tensor-product result. tf_crop_and_resize needs the whole-tensor form.
template <typename T>
void resize_separable(const Tensor& x, const std::vector<int64_t>& sizes, const std::vector<std::vector<Taps>>& taps,
                      Tensor& y, ThreadPool& pool) {
  const auto in = x.values<T>();
  std::vector<double> values(in.size());
  for (size_t i = 0; i < in.size(); ++i) values[i] = static_cast<double>(load(in[i]));
  std::vector<int64_t> shape = x.shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool identity = sizes[d] == shape[d] && std::all_of(taps[d].begin(), taps[d].end(), [&](const Taps& t) {
      return t.indices.size() == 1 && t.indices[0] == &t - taps[d].data() && t.weights[0] == 1.0;
    });
    if (identity) continue;
    const int64_t outer = product(std::span(shape).first(d));
    const int64_t inner = product(std::span(shape).subspan(d + 1));
    values = resize_axis(values, outer, shape[d], inner, taps[d], pool);
    shape[d] = sizes[d];
  }
  const auto out = y.values<T>();
  for (size_t i = 0; i < out.size(); ++i) {
    if constexpr (std::is_integral_v<T>) {
      out[i] = static_cast<T>(std::clamp(std::nearbyint(values[i]), static_cast<double>(std::numeric_limits<T>::lowest()),
                                         static_cast<double>(std::numeric_limits<T>::max())));
    } else {
      out[i] = store<T>(static_cast<ComputeType<T>>(values[i]));
    }
  }
}

void run_resize(KernelContext& c) {
  const Tensor& x = c.input(0);
  ResizeOptions options;
  options.mode = c.attributes().get_string("mode", "nearest");
  options.coordinate_mode = c.attributes().get_string("coordinate_transformation_mode", "half_pixel");
  options.nearest_mode = c.attributes().get_string("nearest_mode", "round_prefer_floor");
  options.cubic_a = c.attributes().get_float("cubic_coeff_a", -0.75f);
  options.exclude_outside = c.attributes().get_int("exclude_outside", 0) != 0;
  const double extrapolation = c.attributes().get_float("extrapolation_value", 0.0f);

  std::vector<int64_t> sizes;
  std::vector<double> scales, roi_start, roi_end;
  output_geometry(c, x.shape, sizes, scales, roi_start, roi_end);
  const size_t rank = x.shape.size();
  std::vector<std::vector<Taps>> taps(rank);
  for (size_t d = 0; d < rank; ++d) {
    for (int64_t i = 0; i < sizes[d]; ++i) {
      // Axes that keep their size and scale map each index to itself.
      if (sizes[d] == x.shape[d] && scales[d] == 1.0 && options.coordinate_mode != "tf_crop_and_resize") {
        taps[d].push_back(Taps{{i}, {1.0}});
      } else {
        taps[d].push_back(axis_taps(options, i, scales[d], x.shape[d], sizes[d], roi_start[d], roi_end[d]));
      }
    }
  }

  Tensor y = make_tensor(x.dtype, sizes);
  if (options.coordinate_mode != "tf_crop_and_resize") {
    visit_dtype<TypeSet::kNumeric>(x.dtype, "X", [&](auto tag) { resize_separable<decltype(tag)>(x, sizes, taps, y, c.pool()); });
    c.set_output(0, std::move(y));
    return;
  }
  const std::vector<int64_t> strides = strides_of(x.shape);
  visit_dtype<TypeSet::kNumeric>(x.dtype, "X", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.values<T>().data();
    T* out = y.values<T>().data();
    const int64_t count = product(sizes);
    c.pool().parallel_for(count, kParallelElements / 16, [&](int64_t begin, int64_t end) {
      std::vector<const Taps*> point(rank);
      std::vector<size_t> tap(rank);
      for (int64_t o = begin; o < end; ++o) {
        int64_t rest = o;
        bool outside = false;
        for (size_t d = rank; d-- > 0;) {
          point[d] = &taps[d][static_cast<size_t>(rest % sizes[d])];
          rest /= sizes[d];
          outside = outside || point[d]->indices.empty();
        }
        if (outside) {
          out[o] = store<T>(static_cast<ComputeType<T>>(extrapolation));
          continue;
        }
        // Sum over the tensor product of the taps of every axis.
        double sum = 0;
        std::fill(tap.begin(), tap.end(), 0);
        while (true) {
          double weight = 1;
          int64_t offset = 0;
          for (size_t d = 0; d < rank; ++d) {
            weight *= point[d]->weights[tap[d]];
            offset += point[d]->indices[tap[d]] * strides[d];
          }
          sum += weight * static_cast<double>(load(in[offset]));
          size_t d = rank;
          while (d-- > 0 && ++tap[d] == point[d]->indices.size()) tap[d] = 0;
          if (d == static_cast<size_t>(-1)) break;
        }
        if constexpr (std::is_integral_v<T>) {
          out[o] = static_cast<T>(std::clamp(std::nearbyint(sum), static_cast<double>(std::numeric_limits<T>::lowest()),
                                             static_cast<double>(std::numeric_limits<T>::max())));
        } else {
          out[o] = store<T>(static_cast<ComputeType<T>>(sum));
        }
      }
    });
  });
  c.set_output(0, std::move(y));
}

void check_resize(const onnx::NodeProto&, const NodeAttributes& attributes, int version) {
  const std::string mode = attributes.get_string("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic") throw NotSupported(fmt::format("mode '{}' is not defined", mode));
  const std::string coordinate = attributes.get_string("coordinate_transformation_mode", "half_pixel");
  const bool known = coordinate == "half_pixel" || coordinate == "pytorch_half_pixel" || coordinate == "align_corners" ||
                     coordinate == "asymmetric" || coordinate == "tf_half_pixel_for_nn" ||
                     coordinate == "tf_crop_and_resize" || (coordinate == "half_pixel_symmetric" && version >= 19);
  if (!known) throw NotSupported(fmt::format("coordinate_transformation_mode '{}' is not supported", coordinate));
  const std::string nearest = attributes.get_string("nearest_mode", "round_prefer_floor");
  if (nearest != "round_prefer_floor" && nearest != "round_prefer_ceil" && nearest != "floor" && nearest != "ceil") {
    throw NotSupported(fmt::format("nearest_mode '{}' is not defined", nearest));
  }
  if (attributes.get_int("antialias", 0) != 0) throw NotSupported("antialias is not supported");
  const std::string policy = attributes.get_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller") {
    throw NotSupported(fmt::format("keep_aspect_ratio_policy '{}' is not defined", policy));
  }
}

}  // namespace

void register_resize_ops(OperatorTable& table) {
  // Resize 10 has no roi input and no coordinate transformation attributes.
  table.add(make_spec("Resize", 11, run_resize,
                      {"antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                       "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode"},
                      check_resize));
}

}  // namespace onnxquant::eval
