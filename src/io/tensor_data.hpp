// Element types, sizes and float views of TensorProto data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::io {

class TensorStore;
class TensorBytes;

// Bytes per element, or 0 for types without a fixed size (string, undefined) and sub-byte types.
uint64_t element_size(int32_t data_type);
std::string dtype_name(int32_t data_type);

// Product of the dimensions. Throws ModelError on a negative dimension or an overflow.
uint64_t element_count(const onnx::TensorProto& tensor);

// Element count times element size; 0 when the type has no fixed size.
uint64_t tensor_bytes(const onnx::TensorProto& tensor);

bool is_float_type(int32_t data_type);

// Reads a float, float16, bfloat16 or double tensor stored inline as float32 values. Throws
// ModelError when the stored data does not match the shape.
std::vector<float> read_float_values(const onnx::TensorProto& tensor);
// The same for a tensor stored inline or in an external file of `store`, which is mapped only
// while it is converted.
std::vector<float> read_float_values(const onnx::TensorProto& tensor, const TensorStore& store);

// The values of a float tensor as float32: a view of the mapped file for a float32 tensor that is
// stored externally at an offset aligned for float, otherwise a converted copy.
class FloatValues {
 public:
  explicit FloatValues(std::vector<float> values);
  explicit FloatValues(TensorBytes mapped);
  FloatValues(FloatValues&&) noexcept;
  FloatValues& operator=(FloatValues&&) noexcept;
  ~FloatValues();

  std::span<const float> span() const { return view_; }
  operator std::span<const float>() const { return view_; }  // NOLINT(google-explicit-constructor)
  size_t size() const { return view_.size(); }

 private:
  std::vector<float> copy_;
  std::unique_ptr<TensorBytes> mapped_;
  std::span<const float> view_;
};

// Reads a float tensor stored inline or in an external file of `store` without copying it where
// FloatValues allows. Throws ModelError when the stored data does not match the shape.
FloatValues read_float_view(const onnx::TensorProto& tensor, const TensorStore& store);

// Calls `consume` with the values of a float tensor, stored inline or in an external file of
// `store`, in order and in runs of at most `run_values` values. The values come from
// read_float_view, so an aligned external float32 tensor is not copied. Throws ModelError when the
// stored data does not match the shape.
void for_each_float_run(const onnx::TensorProto& tensor, const TensorStore& store, uint64_t run_values,
                        const std::function<void(std::span<const float>)>& consume);
// Replaces the data of a tensor, wherever it was stored, with `bytes` in raw_data.
void set_raw_data(onnx::TensorProto& tensor, std::span<const uint8_t> bytes);

onnx::TensorProto make_tensor(const std::string& name, int32_t data_type, const std::vector<int64_t>& dims,
                              std::span<const uint8_t> raw_data);
onnx::TensorProto make_float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                    std::span<const float> values);
onnx::TensorProto make_float16_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                      std::span<const float> values);

std::vector<int64_t> dims_of(const onnx::TensorProto& tensor);
std::string format_shape(const std::vector<int64_t>& dims);

}  // namespace onnxquant::io
