// Operators that reshape or move elements: Reshape, Squeeze, Unsqueeze, Flatten, Shape, Size,
// Identity, Expand, Transpose, Concat, Split, Slice, Tile, Pad, DepthToSpace, SpaceToDepth.
#include <cstring>
#include <fmt/format.h>
#include <numeric>

#include "eval/ops/common.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

// Input 0 with a new shape of the same element count; its data is moved when no later node reads it.
Tensor with_shape(KernelContext& c, std::vector<int64_t> shape) {
  const Tensor& input = c.input(0);
  if (shape_element_count(shape) != input.element_count()) {
    throw ModelError(fmt::format("cannot reshape {} elements of shape {} to {}", input.element_count(),
                                 shape_text(input.shape), shape_text(shape)));
  }
  Tensor output = c.take_input(0);
  output.shape = std::move(shape);
  return output;
}

void run_reshape(KernelContext& c) {
  const Tensor& data = c.input(0);
  std::vector<int64_t> shape = read_int64s(c.input(1), "shape");
  const bool allow_zero = c.attributes().get_int("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allow_zero) {
      if (i >= data.shape.size()) throw ModelError(fmt::format("shape entry {} copies a dimension the input lacks", i));
      shape[i] = data.shape[i];
    }
    if (shape[i] == -1) {
      if (infer >= 0) throw ModelError("the shape has more than one -1");
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw ModelError(fmt::format("shape entry {} is {}", i, shape[i]));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    const int64_t count = static_cast<int64_t>(data.element_count());
    if (known == 0 || count % known != 0) {
      throw ModelError(fmt::format("cannot infer the -1 entry of shape {} for {} elements", shape_text(shape), count));
    }
    shape[static_cast<size_t>(infer)] = count / known;
  }
  c.set_output(0, with_shape(c, std::move(shape)));
}

// Axes from the 'axes' attribute before opset 13 and from the optional input since.
std::optional<std::vector<int64_t>> axes_of(KernelContext& c, size_t input_index) {
  if (c.version() < 13) return c.attributes().find_ints("axes");
  if (const Tensor* axes = c.optional_input(input_index)) return read_int64s(*axes, "axes");
  return std::nullopt;
}

void run_squeeze(KernelContext& c) {
  const Tensor& data = c.input(0);
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  const auto axes = axes_of(c, 1);
  std::vector<bool> drop(data.shape.size(), false);
  if (axes) {
    for (int64_t axis : normalize_axes(*axes, rank)) {
      if (data.shape[static_cast<size_t>(axis)] != 1) {
        throw ModelError(fmt::format("axis {} has size {}, not 1", axis, data.shape[static_cast<size_t>(axis)]));
      }
      drop[static_cast<size_t>(axis)] = true;
    }
  } else {
    for (size_t i = 0; i < drop.size(); ++i) drop[i] = data.shape[i] == 1;
  }
  std::vector<int64_t> shape;
  for (size_t i = 0; i < data.shape.size(); ++i) {
    if (!drop[i]) shape.push_back(data.shape[i]);
  }
  c.set_output(0, with_shape(c, std::move(shape)));
}

void run_unsqueeze(KernelContext& c) {
  const Tensor& data = c.input(0);
  const auto axes = axes_of(c, 1);
  if (!axes) throw ModelError("Unsqueeze needs axes");
  const int64_t rank = static_cast<int64_t>(data.shape.size() + axes->size());
  const std::vector<int64_t> normalized = normalize_axes(*axes, rank);
  std::vector<int64_t> shape;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i) {
    if (std::find(normalized.begin(), normalized.end(), i) != normalized.end()) {
      shape.push_back(1);
    } else {
      shape.push_back(data.shape.at(next++));
    }
  }
  c.set_output(0, with_shape(c, std::move(shape)));
}

void run_flatten(KernelContext& c) {
  const Tensor& data = c.input(0);
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  int64_t axis = c.attributes().get_int("axis", 1);
  axis = axis == rank ? rank : normalize_axis(axis, rank);
  const int64_t outer = product(std::span(data.shape).first(static_cast<size_t>(axis)));
  const int64_t inner = product(std::span(data.shape).subspan(static_cast<size_t>(axis)));
  c.set_output(0, with_shape(c, {outer, inner}));
}

void run_identity(KernelContext& c) { c.set_output(0, c.take_input(0)); }

void run_shape(KernelContext& c) {
  const auto& shape = c.input(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  // Since opset 15, 'start' and 'end' select a range of axes, clamped like Slice.
  auto clamp = [rank](int64_t value) { return std::clamp(value < 0 ? value + rank : value, int64_t{0}, rank); };
  const int64_t start = clamp(c.attributes().get_int("start", 0));
  const int64_t end = clamp(c.attributes().get_int("end", rank));
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(shape[static_cast<size_t>(i)]);
  const int64_t count = static_cast<int64_t>(dims.size());
  c.set_output(0, make_tensor<int64_t>(onnx::TensorProto::INT64, {count}, dims));
}

void run_size(KernelContext& c) {
  const int64_t count = static_cast<int64_t>(c.input(0).element_count());
  c.set_output(0, make_tensor<int64_t>(onnx::TensorProto::INT64, {}, std::span(&count, 1)));
}

void run_expand(KernelContext& c) {
  const Tensor& data = c.input(0);
  const std::vector<int64_t> requested = read_int64s(c.input(1), "shape");
  const std::vector<int64_t> shape = broadcast_shapes(data.shape, requested);
  Tensor output = make_tensor(data.dtype, shape);
  strided_copy(data, 0, shape, broadcast_strides(data.shape, shape), output, c.pool());
  c.set_output(0, std::move(output));
}

void run_transpose(KernelContext& c) {
  const Tensor& data = c.input(0);
  const size_t rank = data.shape.size();
  std::vector<int64_t> perm = c.attributes().get_ints("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  if (perm.size() != rank) throw ModelError(fmt::format("perm has {} entries for rank {}", perm.size(), rank));
  perm = normalize_axes(perm, static_cast<int64_t>(rank));
  const std::vector<int64_t> input_strides = strides_of(data.shape);
  std::vector<int64_t> shape(rank);
  std::vector<int64_t> strides(rank);
  for (size_t i = 0; i < rank; ++i) {
    shape[i] = data.shape[static_cast<size_t>(perm[i])];
    strides[i] = input_strides[static_cast<size_t>(perm[i])];
  }
  Tensor output = make_tensor(data.dtype, shape);
  strided_copy(data, 0, shape, strides, output, c.pool());
  c.set_output(0, std::move(output));
}

void run_concat(KernelContext& c) {
  const Tensor& first = c.input(0);
  const int64_t rank = static_cast<int64_t>(first.shape.size());
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().require_int("axis"), rank));
  std::vector<int64_t> shape = first.shape;
  shape[axis] = 0;
  for (size_t i = 0; i < c.input_count(); ++i) {
    const Tensor& part = c.input(i);
    bool matches = part.dtype == first.dtype && part.shape.size() == first.shape.size();
    for (size_t d = 0; matches && d < shape.size(); ++d) matches = d == axis || part.shape[d] == first.shape[d];
    if (!matches) {
      throw ModelError(fmt::format("input {} ({}) does not concatenate with input 0 ({}) on axis {}", i, describe(part),
                                   describe(first), axis));
    }
    shape[axis] += part.shape[axis];
  }
  Tensor output = make_tensor(first.dtype, shape);
  const int64_t outer = product(std::span(shape).first(axis));
  const size_t size = stored_element_size(first.dtype);
  const int64_t output_row = product(std::span(shape).subspan(axis)) * static_cast<int64_t>(size);
  int64_t column = 0;
  for (size_t i = 0; i < c.input_count(); ++i) {
    const Tensor& part = c.input(i);
    const int64_t part_row = product(std::span(part.shape).subspan(axis)) * static_cast<int64_t>(size);
    for (int64_t o = 0; o < outer && part_row > 0; ++o) {
      std::memcpy(output.data.data() + o * output_row + column, part.data.data() + o * part_row,
                  static_cast<size_t>(part_row));
    }
    column += part_row;
  }
  c.set_output(0, std::move(output));
}

// Copies the slab [begin, begin + length) of `axis` out of `input`.
Tensor slab(const Tensor& input, size_t axis, int64_t begin, int64_t length) {
  std::vector<int64_t> shape = input.shape;
  shape[axis] = length;
  Tensor output = make_tensor(input.dtype, shape);
  const size_t size = stored_element_size(input.dtype);
  const int64_t outer = product(std::span(shape).first(axis));
  const int64_t inner = product(std::span(shape).subspan(axis + 1)) * static_cast<int64_t>(size);
  const int64_t input_row = input.shape[axis] * inner;
  for (int64_t o = 0; o < outer && length * inner > 0; ++o) {
    std::memcpy(output.data.data() + o * length * inner, input.data.data() + o * input_row + begin * inner,
                static_cast<size_t>(length * inner));
  }
  return output;
}

void run_split(KernelContext& c) {
  const Tensor& data = c.input(0);
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", 0),
                                                         static_cast<int64_t>(data.shape.size())));
  const int64_t total = data.shape[axis];
  const int64_t outputs = static_cast<int64_t>(c.output_count());
  std::vector<int64_t> sizes;
  if (c.version() >= 13 && c.has_input(1)) {
    sizes = read_int64s(c.input(1), "split");
  } else if (c.version() < 13 && c.attributes().has("split")) {
    sizes = c.attributes().get_ints("split");
  } else {
    // Equal parts; since opset 18 with 'num_outputs', the last part may be smaller.
    const int64_t parts = c.attributes().get_int("num_outputs", outputs);
    const int64_t part = c.version() >= 18 ? (total + parts - 1) / parts : total / std::max<int64_t>(parts, 1);
    if (c.version() < 18 && total % std::max<int64_t>(parts, 1) != 0) {
      throw ModelError(fmt::format("axis size {} does not split into {} equal parts", total, parts));
    }
    for (int64_t i = 0, left = total; i < parts; ++i, left -= part) sizes.push_back(std::min(part, left));
  }
  if (static_cast<int64_t>(sizes.size()) != outputs || std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != total) {
    throw ModelError(fmt::format("split sizes [{}] do not cover axis size {} with {} outputs", fmt::join(sizes, ", "),
                                 total, outputs));
  }
  int64_t begin = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0) throw ModelError(fmt::format("split size {} is negative", sizes[i]));
    if (c.wants_output(i)) c.set_output(i, slab(data, axis, begin, sizes[i]));
    begin += sizes[i];
  }
}

struct SliceRange {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};

// Clamps start and end to the axis as the ONNX Slice specification describes.
SliceRange slice_range(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (step == 0) throw ModelError("a slice step is 0");
  if (dim == 0) return {0, step, 0};
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp(start, int64_t{0}, dim);
    end = std::clamp(end, int64_t{0}, dim);
    return {start, step, end > start ? (end - start + step - 1) / step : 0};
  }
  start = std::clamp(start, int64_t{0}, dim - 1);
  end = std::clamp(end, int64_t{-1}, dim - 1);
  return {start, step, start > end ? (start - end - step - 1) / -step : 0};
}

void run_slice(KernelContext& c) {
  const Tensor& data = c.input(0);
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.version() < 10) {
    starts = c.attributes().get_ints("starts");
    ends = c.attributes().get_ints("ends");
    axes = c.attributes().get_ints("axes");
  } else {
    starts = read_int64s(c.input(1), "starts");
    ends = read_int64s(c.input(2), "ends");
    if (c.has_input(3)) axes = read_int64s(c.input(3), "axes");
    if (c.has_input(4)) steps = read_int64s(c.input(4), "steps");
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    throw ModelError("starts, ends, axes and steps have different lengths");
  }
  axes = normalize_axes(axes, rank);

  std::vector<int64_t> shape = data.shape;
  const std::vector<int64_t> input_strides = strides_of(data.shape);
  std::vector<int64_t> strides = input_strides;
  int64_t base = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t axis = static_cast<size_t>(axes[i]);
    const SliceRange range = slice_range(starts[i], ends[i], steps[i], data.shape[axis]);
    shape[axis] = range.count;
    strides[axis] = input_strides[axis] * range.step;
    if (range.count > 0) base += range.start * input_strides[axis];
  }
  Tensor output = make_tensor(data.dtype, shape);
  strided_copy(data, base, shape, strides, output, c.pool());
  c.set_output(0, std::move(output));
}

void run_tile(KernelContext& c) {
  const Tensor& data = c.input(0);
  const std::vector<int64_t> repeats = read_int64s(c.input(1), "repeats");
  if (repeats.size() != data.shape.size()) {
    throw ModelError(fmt::format("repeats has {} entries for rank {}", repeats.size(), data.shape.size()));
  }
  // The output viewed as [r0, d0, r1, d1, ...] reads the input with stride 0 along each r.
  const std::vector<int64_t> input_strides = strides_of(data.shape);
  std::vector<int64_t> view_shape, view_strides, shape;
  for (size_t i = 0; i < repeats.size(); ++i) {
    if (repeats[i] < 0) throw ModelError(fmt::format("repeat {} is negative", repeats[i]));
    view_shape.insert(view_shape.end(), {repeats[i], data.shape[i]});
    view_strides.insert(view_strides.end(), {0, input_strides[i]});
    shape.push_back(repeats[i] * data.shape[i]);
  }
  Tensor output = make_tensor(data.dtype, shape);
  strided_copy(data, 0, view_shape, view_strides, output, c.pool());
  c.set_output(0, std::move(output));
}

// The input coordinate that output coordinate `x` (already shifted by the begin pad) reads in a
// non-constant Pad mode, or -1 for the constant mode outside the input.
int64_t pad_source(int64_t x, int64_t dim, const std::string& mode) {
  if (x >= 0 && x < dim) return x;
  if (mode == "constant" || dim == 0) return -1;
  if (mode == "edge") return std::clamp(x, int64_t{0}, dim - 1);
  if (mode == "wrap") return ((x % dim) + dim) % dim;
  // reflect: mirror without repeating the edge element.
  if (dim == 1) return 0;
  const int64_t period = 2 * (dim - 1);
  int64_t m = ((x % period) + period) % period;
  return m < dim ? m : period - m;
}

void run_pad(KernelContext& c) {
  const Tensor& data = c.input(0);
  const size_t rank = data.shape.size();
  const std::string mode = c.attributes().get_string("mode", "constant");
  std::vector<int64_t> pads = c.version() < 11 ? c.attributes().get_ints("pads") : read_int64s(c.input(1), "pads");
  std::vector<int64_t> axes;
  if (c.version() >= 18 && c.has_input(3)) {
    axes = normalize_axes(read_int64s(c.input(3), "axes"), static_cast<int64_t>(rank));
  } else {
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (pads.size() != 2 * axes.size()) throw ModelError(fmt::format("pads has {} entries for {} axes", pads.size(), axes.size()));
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begin[static_cast<size_t>(axes[i])] = pads[i];
    end[static_cast<size_t>(axes[i])] = pads[i + axes.size()];
  }
  std::vector<int64_t> shape(rank);
  for (size_t d = 0; d < rank; ++d) {
    shape[d] = data.shape[d] + begin[d] + end[d];
    if (shape[d] < 0) throw ModelError(fmt::format("negative pads remove more elements than axis {} has", d));
  }
  if (mode != "constant" && data.element_count() == 0 && product(shape) > 0) {
    throw ModelError(fmt::format("mode '{}' cannot pad an empty tensor", mode));
  }

  Tensor output = make_tensor(data.dtype, shape);
  visit_dtype<TypeSet::kAll>(data.dtype, "input 0", [&](auto tag) {
    using T = decltype(tag);
    T fill{};
    if (c.version() < 11) {
      fill = store<T>(static_cast<ComputeType<T>>(c.attributes().get_float("value", 0.0f)));
    } else if (const Tensor* value = c.optional_input(2); value != nullptr && value->element_count() > 0) {
      fill = value->values<T>()[0];
    }
    const T* in = data.values<T>().data();
    T* out = output.values<T>().data();
    const std::vector<int64_t> input_strides = strides_of(data.shape);
    const int64_t count = product(shape);
    std::vector<int64_t> index(rank, 0);
    for (int64_t o = 0; o < count; ++o) {
      int64_t offset = 0;
      bool inside = true;
      for (size_t d = 0; d < rank && inside; ++d) {
        const int64_t source = pad_source(index[d] - begin[d], data.shape[d], mode);
        inside = source >= 0;
        offset += source * input_strides[d];
      }
      out[o] = inside ? in[offset] : fill;
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
  });
  c.set_output(0, std::move(output));
}

void check_pad(const onnx::NodeProto&, const NodeAttributes& attributes, int version) {
  const std::string mode = attributes.get_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && !(mode == "wrap" && version >= 19)) {
    throw NotSupported(fmt::format("mode '{}' is not supported", mode));
  }
}

// DepthToSpace and SpaceToDepth are reshape, transpose, reshape; the transpose is a strided copy.
void rearrange_blocks(KernelContext& c, bool to_space) {
  const Tensor& data = c.input(0);
  if (data.shape.size() != 4) throw ModelError(fmt::format("input has rank {}, expected 4", data.shape.size()));
  const int64_t block = c.attributes().require_int("blocksize");
  const int64_t n = data.shape[0], channels = data.shape[1], height = data.shape[2], width = data.shape[3];
  std::vector<int64_t> view, perm;
  std::vector<int64_t> shape;
  if (to_space) {
    if (block <= 0 || channels % (block * block) != 0) throw ModelError("channels are not divisible by blocksize^2");
    const int64_t depth = channels / (block * block);
    if (c.attributes().get_string("mode", "DCR") == "DCR") {
      view = {n, block, block, depth, height, width};
      perm = {0, 3, 4, 1, 5, 2};
    } else {
      view = {n, depth, block, block, height, width};
      perm = {0, 1, 4, 2, 5, 3};
    }
    shape = {n, depth, height * block, width * block};
  } else {
    if (block <= 0 || height % block != 0 || width % block != 0) throw ModelError("height or width is not divisible by blocksize");
    view = {n, channels, height / block, block, width / block, block};
    perm = {0, 3, 5, 1, 2, 4};
    shape = {n, channels * block * block, height / block, width / block};
  }
  const std::vector<int64_t> view_strides = strides_of(view);
  std::vector<int64_t> copy_shape, copy_strides;
  for (int64_t axis : perm) {
    copy_shape.push_back(view[static_cast<size_t>(axis)]);
    copy_strides.push_back(view_strides[static_cast<size_t>(axis)]);
  }
  Tensor output = make_tensor(data.dtype, shape);
  strided_copy(data, 0, copy_shape, copy_strides, output, c.pool());
  c.set_output(0, std::move(output));
}

void run_depth_to_space(KernelContext& c) { rearrange_blocks(c, true); }
void run_space_to_depth(KernelContext& c) { rearrange_blocks(c, false); }

void check_depth_to_space(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const std::string mode = attributes.get_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") throw NotSupported(fmt::format("mode '{}' is not defined", mode));
}

}  // namespace

void register_shape_ops(OperatorTable& table) {
  // Reshape 1 reads the shape from an attribute; Concat 1 has an optional axis; Tile 1 has other
  // inputs; Pad 1 names its pads 'paddings'. Those versions are not supported.
  table.add(make_spec("Reshape", 5, run_reshape, {"allowzero"}));
  table.add(make_spec("Squeeze", 1, run_squeeze, {"axes"}));
  table.add(make_spec("Unsqueeze", 1, run_unsqueeze, {"axes"}));
  table.add(make_spec("Flatten", 1, run_flatten, {"axis"}));
  table.add(make_spec("Identity", 1, run_identity));
  table.add(make_spec("Shape", 1, run_shape, {"start", "end"}));
  table.add(make_spec("Size", 1, run_size));
  table.add(make_spec("Expand", 8, run_expand));
  table.add(make_spec("Transpose", 1, run_transpose, {"perm"}));
  table.add(make_spec("Concat", 4, run_concat, {"axis"}));
  table.add(make_spec("Split", 2, run_split, {"axis", "split", "num_outputs"}));
  table.add(make_spec("Slice", 1, run_slice, {"starts", "ends", "axes"}));
  table.add(make_spec("Tile", 6, run_tile));
  table.add(make_spec("Pad", 2, run_pad, {"mode", "pads", "value"}, check_pad));
  table.add(make_spec("DepthToSpace", 1, run_depth_to_space, {"blocksize", "mode"}, check_depth_to_space));
  table.add(make_spec("SpaceToDepth", 1, run_space_to_depth, {"blocksize"}));
}

}  // namespace onnxquant::eval
