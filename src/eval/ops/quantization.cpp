// Quantization operators: DequantizeLinear, QuantizeLinear, DynamicQuantizeLinear, and the
// com.microsoft MatMulNBits and GatherBlockQuantized that onnxquant writes.
#include <cmath>
#include <fmt/format.h>

#include "eval/ops/common.hpp"
#include "eval/ops/matmul.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::eval {
namespace {

using onnx::TensorProto;

// The integer element types of quantized data, read as int32.
bool is_quantized_type(int32_t dtype) {
  return dtype == TensorProto::INT8 || dtype == TensorProto::UINT8 || dtype == TensorProto::INT16 ||
         dtype == TensorProto::UINT16 || dtype == TensorProto::INT32 || dtype == kInt4 || dtype == kUint4;
}

int64_t read_quantized(const Tensor& tensor, int64_t index) {
  const size_t i = static_cast<size_t>(index);
  switch (tensor.dtype) {
    case TensorProto::INT8:
    case kInt4: return tensor.values<int8_t>()[i];
    case TensorProto::UINT8:
    case kUint4: return tensor.values<uint8_t>()[i];
    case TensorProto::INT16: return tensor.values<int16_t>()[i];
    case TensorProto::UINT16: return tensor.values<uint16_t>()[i];
    case TensorProto::INT32: return tensor.values<int32_t>()[i];
    default: throw_unsupported_dtype(tensor.dtype, "quantized data");
  }
}

// The range of a quantized element type.
std::pair<int64_t, int64_t> quantized_range(int32_t dtype) {
  switch (dtype) {
    case TensorProto::INT8: return {-128, 127};
    case TensorProto::UINT8: return {0, 255};
    case TensorProto::INT16: return {-32768, 32767};
    case TensorProto::UINT16: return {0, 65535};
    case kInt4: return {-8, 7};
    case kUint4: return {0, 15};
    default: throw_unsupported_dtype(dtype, "the quantized output");
  }
}

void write_quantized(Tensor& tensor, int64_t index, int64_t value) {
  const size_t i = static_cast<size_t>(index);
  switch (tensor.dtype) {
    case TensorProto::INT8:
    case kInt4: tensor.values<int8_t>()[i] = static_cast<int8_t>(value); break;
    case TensorProto::UINT8:
    case kUint4: tensor.values<uint8_t>()[i] = static_cast<uint8_t>(value); break;
    case TensorProto::INT16: tensor.values<int16_t>()[i] = static_cast<int16_t>(value); break;
    case TensorProto::UINT16: tensor.values<uint16_t>()[i] = static_cast<uint16_t>(value); break;
    default: throw_unsupported_dtype(tensor.dtype, "the quantized output");
  }
}

// Maps an element of x to its scale and zero point: per tensor (scale has one element), per axis
// (a 1-D scale along `axis`) or blocked (scale has x's rank and ceil(dim / block_size) along axis).
struct ParameterIndex {
  enum class Kind { kTensor, kAxis, kBlocked } kind = Kind::kTensor;
  int64_t inner = 1;       // elements after the axis in x
  int64_t axis_dim = 1;    // size of the axis in x
  int64_t block_size = 0;  // blocked only
  int64_t blocks = 1;      // blocked only: scale dimension along the axis

  int64_t operator()(int64_t index) const {
    if (kind == Kind::kTensor) return 0;
    const int64_t position = index / inner % axis_dim;
    if (kind == Kind::kAxis) return position;
    const int64_t outer = index / (inner * axis_dim);
    return (outer * blocks + position / block_size) * inner + index % inner;
  }
};

ParameterIndex parameter_index(KernelContext& c, const Tensor& x, const Tensor& scale) {
  ParameterIndex index;
  if (scale.element_count() == 1 && scale.shape.size() <= 1) return index;
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const size_t axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("axis", 1), rank));
  index.inner = product(std::span(x.shape).subspan(axis + 1));
  index.axis_dim = x.shape[axis];
  const int64_t block_size = c.attributes().get_int("block_size", 0);
  if (block_size <= 0) {
    if (scale.shape.size() != 1 || scale.shape[0] != index.axis_dim) {
      throw ModelError(fmt::format("scale of shape {} does not match axis {} of x with shape {}", shape_text(scale.shape),
                                   axis, shape_text(x.shape)));
    }
    index.kind = ParameterIndex::Kind::kAxis;
    return index;
  }
  index.kind = ParameterIndex::Kind::kBlocked;
  index.block_size = block_size;
  index.blocks = (index.axis_dim + block_size - 1) / block_size;
  std::vector<int64_t> expected = x.shape;
  expected[axis] = index.blocks;
  if (scale.shape != expected) {
    throw ModelError(fmt::format("blocked scale has shape {}, expected {}", shape_text(scale.shape), shape_text(expected)));
  }
  return index;
}

void run_dequantize_linear(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& scale = c.input(1);
  const Tensor* zero_point = c.optional_input(2);
  if (!is_quantized_type(x.dtype)) throw_unsupported_dtype(x.dtype, "x");
  if (zero_point != nullptr && zero_point->dtype != x.dtype) throw ModelError("x_zero_point has another element type than x");
  const ParameterIndex index = parameter_index(c, x, scale);
  const std::vector<float> scales = read_floats(scale, "x_scale");
  const int64_t count = static_cast<int64_t>(x.element_count());
  std::vector<float> y(static_cast<size_t>(count));
  c.pool().parallel_for(count, kParallelElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t p = index(i);
      const int64_t zero = zero_point != nullptr ? read_quantized(*zero_point, p) : 0;
      y[static_cast<size_t>(i)] = static_cast<float>(read_quantized(x, i) - zero) * scales[static_cast<size_t>(p)];
    }
  });
  // Version 19 and later give y the scale's element type; earlier versions always float32.
  const int32_t dtype = c.version() >= 19 ? scale.dtype : static_cast<int32_t>(TensorProto::FLOAT);
  c.set_output(0, tensor_from_floats(dtype, x.shape, y));
}

// Quantizes one value: round half to even, add the zero point, saturate to the type's range.
int64_t quantize_value(float x, float scale, int64_t zero, std::pair<int64_t, int64_t> range) {
  const float scaled = std::nearbyint(x / scale);
  const double shifted = static_cast<double>(scaled) + static_cast<double>(zero);
  if (std::isnan(shifted)) return std::clamp<int64_t>(zero, range.first, range.second);
  return static_cast<int64_t>(std::clamp(shifted, static_cast<double>(range.first), static_cast<double>(range.second)));
}

void run_quantize_linear(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& scale = c.input(1);
  const Tensor* zero_point = c.optional_input(2);
  int32_t dtype = zero_point != nullptr ? zero_point->dtype : static_cast<int32_t>(TensorProto::UINT8);
  if (zero_point == nullptr && c.attributes().has("output_dtype")) {
    dtype = static_cast<int32_t>(c.attributes().get_int("output_dtype", TensorProto::UINT8));
  }
  const auto range = quantized_range(dtype);
  const ParameterIndex index = parameter_index(c, x, scale);
  const std::vector<float> values = read_floats(x, "x");
  const std::vector<float> scales = read_floats(scale, "y_scale");
  Tensor y = make_tensor(dtype, x.shape);
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t p = index(static_cast<int64_t>(i));
    const int64_t zero = zero_point != nullptr ? read_quantized(*zero_point, p) : 0;
    write_quantized(y, static_cast<int64_t>(i), quantize_value(values[i], scales[static_cast<size_t>(p)], zero, range));
  }
  c.set_output(0, std::move(y));
}

void check_quantize_linear(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  if (attributes.get_int("saturate", 1) != 1) throw NotSupported("saturate = 0 applies to float8 types, which are not supported");
  if (attributes.has("output_dtype")) quantized_range(static_cast<int32_t>(attributes.get_int("output_dtype", 0)));
}

// y = saturate(round(x / scale) + zero_point) with scale and zero point from the range of x
// widened to include 0, as the DynamicQuantizeLinear specification defines.
void run_dynamic_quantize_linear(KernelContext& c) {
  const Tensor& x = c.input(0);
  if (x.dtype != TensorProto::FLOAT) throw_unsupported_dtype(x.dtype, "x");
  const auto values = x.values<float>();
  float low = 0.0f;
  float high = 0.0f;
  for (float v : values) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  const float scale = (high - low) / 255.0f;
  // NOTE: For an all-zero input the specification divides by a zero scale; zero point 0 and zero
  // codes are returned instead.
  int64_t zero = 0;
  if (scale > 0) zero = static_cast<int64_t>(std::clamp(std::nearbyint(-low / scale), 0.0f, 255.0f));
  Tensor y = make_tensor(TensorProto::UINT8, x.shape);
  auto codes = y.values<uint8_t>();
  for (size_t i = 0; i < values.size() && scale > 0; ++i) {
    codes[i] = static_cast<uint8_t>(quantize_value(values[i], scale, zero, {0, 255}));
  }
  c.set_output(0, std::move(y));
  c.set_output(1, make_tensor<float>(TensorProto::FLOAT, {}, std::span(&scale, 1)));
  const uint8_t zero_code = static_cast<uint8_t>(zero);
  c.set_output(2, make_tensor<uint8_t>(TensorProto::UINT8, {}, std::span(&zero_code, 1)));
}

// Reads element `index` of a stream of `bits`-bit unsigned codes packed low bits first.
inline int64_t packed_code(const uint8_t* bytes, int64_t index, int64_t bits) {
  if (bits == 8) return bytes[index];
  const int64_t bit = index * bits;
  return (bytes[bit / 8] >> (bit % 8)) & ((1 << bits) - 1);
}

// MatMulNBits: Y = A * dequantize(B)^T, where B holds N rows of K codes in blocks along K.
void run_matmul_nbits(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  const Tensor& scale = c.input(2);
  const Tensor* zero_points = c.optional_input(3);
  const Tensor* bias = c.optional_input(5);
  const int64_t k = c.attributes().require_int("K");
  const int64_t n = c.attributes().require_int("N");
  const int64_t bits = c.attributes().get_int("bits", 4);
  const int64_t block_size = c.attributes().require_int("block_size");
  const int64_t blocks = (k + block_size - 1) / block_size;
  const int64_t blob_bytes = block_size * bits / 8;
  if (a.shape.empty() || a.shape.back() != k) throw ModelError(fmt::format("A of shape {} does not end in K = {}", shape_text(a.shape), k));
  if (b.dtype != TensorProto::UINT8 || static_cast<int64_t>(b.element_count()) != n * blocks * blob_bytes) {
    throw ModelError(fmt::format("B ({}) must hold N * ceil(K / block_size) * blob_size = {} uint8 values", describe(b),
                                 n * blocks * blob_bytes));
  }
  const std::vector<float> scales = read_floats(scale, "scales");
  if (static_cast<int64_t>(scales.size()) != n * blocks) throw ModelError(fmt::format("scales must hold N * blocks = {} values", n * blocks));
  const bool packed_zero_points = zero_points != nullptr && zero_points->dtype == TensorProto::UINT8;
  std::vector<float> float_zero_points;
  if (zero_points != nullptr && !packed_zero_points) float_zero_points = read_floats(*zero_points, "zero_points");
  const int64_t zero_row_bytes = (blocks * bits + 7) / 8;
  if (packed_zero_points && static_cast<int64_t>(zero_points->element_count()) != n * zero_row_bytes) {
    throw ModelError(fmt::format("packed zero points must hold N * {} bytes", zero_row_bytes));
  }

  // Dequantize B into W [N, K].
  std::vector<float> weight(static_cast<size_t>(n * k));
  const uint8_t* codes = b.values<uint8_t>().data();
  const float default_zero = static_cast<float>(1 << (bits - 1));
  c.pool().parallel_for(n, grain_for(k), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t p = row * blocks + block;
        float zero = default_zero;
        if (packed_zero_points) zero = static_cast<float>(packed_code(zero_points->values<uint8_t>().data() + row * zero_row_bytes, block, bits));
        if (!float_zero_points.empty()) zero = float_zero_points[static_cast<size_t>(p)];
        const uint8_t* blob = codes + p * blob_bytes;
        for (int64_t i = 0; i < block_size && block * block_size + i < k; ++i) {
          weight[static_cast<size_t>(row * k + block * block_size + i)] =
              (static_cast<float>(packed_code(blob, i, bits)) - zero) * scales[static_cast<size_t>(p)];
        }
      }
    }
  });

  const std::vector<float> left = read_floats(a, "A");
  const int64_t m = product(a.shape) / k;
  std::vector<float> result(static_cast<size_t>(m * n));
  gemm<float>(packed_gemm_shape(m, n, k, false, true), 1.0f, left.data(), weight.data(), 0.0f, result.data(), c.pool());
  if (bias != nullptr) {
    const std::vector<float> bias_values = read_floats(*bias, "bias");
    if (static_cast<int64_t>(bias_values.size()) != n) throw ModelError("bias must hold N values");
    for (size_t i = 0; i < result.size(); ++i) result[i] += bias_values[i % static_cast<size_t>(n)];
  }
  std::vector<int64_t> shape = a.shape;
  shape.back() = n;
  c.set_output(0, tensor_from_floats(a.dtype, shape, result));
}

void check_matmul_nbits(const onnx::NodeProto& node, const NodeAttributes& attributes, int) {
  const int64_t bits = attributes.get_int("bits", 4);
  // ONNX Runtime 1.23, the oracle of these kernels, implements 4 and 8 bits only.
  if (bits != 4 && bits != 8) throw NotSupported(fmt::format("bits = {} is not supported; expected 4 or 8", bits));
  const int64_t block_size = attributes.require_int("block_size");
  if (block_size < 16 || (block_size & (block_size - 1)) != 0) {
    throw NotSupported(fmt::format("block_size {} is not a power of two of at least 16", block_size));
  }
  if (attributes.require_int("K") <= 0 || attributes.require_int("N") <= 0) throw NotSupported("K and N must be positive");
  if (node.input_size() > 4 && !node.input(4).empty()) throw NotSupported("the g_idx input is not supported");
  if (attributes.get_int("weight_prepacked", 0) != 0) throw NotSupported("prepacked weights are not supported");
}

// GatherBlockQuantized: Gather on block-quantized data, then dequantize the gathered elements.
// An index out of range gives zeros, as the operator specification requires.
void run_gather_block_quantized(KernelContext& c) {
  const Tensor& data = c.input(0);
  const Tensor& indices_tensor = c.input(1);
  const Tensor& scale = c.input(2);
  const Tensor* zero_points = c.optional_input(3);
  const std::vector<int64_t> indices = read_int64s(indices_tensor, "indices");
  const int64_t bits = data.dtype == TensorProto::UINT8 ? c.attributes().get_int("bits", 4) : 4;
  const bool packed = data.dtype == TensorProto::UINT8;
  if (!packed && data.dtype != kInt4 && data.dtype != kUint4) throw_unsupported_dtype(data.dtype, "data");

  // The logical shape: packed uint8 data has 8 / bits codes per byte along the last axis.
  std::vector<int64_t> shape = data.shape;
  if (packed) shape.back() *= 8 / bits;
  const int64_t rank = static_cast<int64_t>(shape.size());
  const size_t gather_axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("gather_axis", 0), rank));
  const size_t quantize_axis = static_cast<size_t>(normalize_axis(c.attributes().get_int("quantize_axis", rank - 1), rank));
  const int64_t block_size = c.attributes().get_int("block_size", 128);
  std::vector<int64_t> scale_shape = shape;
  scale_shape[quantize_axis] = (shape[quantize_axis] + block_size - 1) / block_size;
  if (scale.shape != scale_shape) {
    throw ModelError(fmt::format("scales have shape {}, expected {}", shape_text(scale.shape), shape_text(scale_shape)));
  }
  const std::vector<float> scales = read_floats(scale, "scales");
  const int64_t default_zero = packed ? int64_t{1} << (bits - 1) : 0;

  std::vector<int64_t> output_shape(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(gather_axis));
  output_shape.insert(output_shape.end(), indices_tensor.shape.begin(), indices_tensor.shape.end());
  output_shape.insert(output_shape.end(), shape.begin() + static_cast<std::ptrdiff_t>(gather_axis) + 1, shape.end());
  const int64_t outer = product(std::span(shape).first(gather_axis));
  const int64_t inner = product(std::span(shape).subspan(gather_axis + 1));
  const int64_t dim = shape[gather_axis];
  const int64_t count = static_cast<int64_t>(indices.size());
  const std::vector<int64_t> strides = strides_of(shape);
  const std::vector<int64_t> scale_strides = strides_of(scale_shape);
  std::vector<float> out(static_cast<size_t>(outer * count * inner), 0.0f);

  auto code_at = [&](const Tensor& tensor, int64_t logical) {
    return packed ? packed_code(tensor.values<uint8_t>().data(), logical, bits) : read_quantized(tensor, logical);
  };
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < count; ++j) {
      int64_t index = indices[static_cast<size_t>(j)];
      if (index < 0) index += dim;
      if (index < 0 || index >= dim) continue;
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t logical = (o * dim + index) * inner + i;
        // The scale index: the element's coordinates with the quantize axis divided by block_size.
        int64_t scale_index = 0;
        for (size_t d = 0; d < shape.size(); ++d) {
          int64_t coordinate = logical / strides[d] % shape[d];
          if (d == quantize_axis) coordinate /= block_size;
          scale_index += coordinate * scale_strides[d];
        }
        const int64_t zero = zero_points != nullptr ? code_at(*zero_points, scale_index) : default_zero;
        out[static_cast<size_t>((o * count + j) * inner + i)] =
            static_cast<float>(code_at(data, logical) - zero) * scales[static_cast<size_t>(scale_index)];
      }
    }
  }
  c.set_output(0, tensor_from_floats(scale.dtype, output_shape, out));
}

void check_gather_block_quantized(const onnx::NodeProto&, const NodeAttributes& attributes, int) {
  const int64_t bits = attributes.get_int("bits", 4);
  if (bits != 4 && bits != 8) throw NotSupported(fmt::format("bits = {} is not supported; expected 4 or 8", bits));
  const int64_t block_size = attributes.get_int("block_size", 128);
  if (block_size < 16 || (block_size & (block_size - 1)) != 0) {
    throw NotSupported(fmt::format("block_size {} is not a power of two of at least 16", block_size));
  }
}

}  // namespace

void register_quantization_ops(OperatorTable& table) {
  table.add(make_spec("DequantizeLinear", 10, run_dequantize_linear, {"axis", "block_size"}));
  table.add(make_spec("QuantizeLinear", 10, run_quantize_linear, {"axis", "block_size", "saturate", "output_dtype"},
                      check_quantize_linear));
  table.add(make_spec("DynamicQuantizeLinear", 11, run_dynamic_quantize_linear));
  table.add(make_microsoft_spec("MatMulNBits", run_matmul_nbits,
                           {"K", "N", "bits", "block_size", "accuracy_level", "weight_prepacked"}, check_matmul_nbits));
  table.add(make_microsoft_spec("GatherBlockQuantized", run_gather_block_quantized,
                           {"bits", "block_size", "gather_axis", "quantize_axis"}, check_gather_block_quantized));
}

}  // namespace onnxquant::eval
