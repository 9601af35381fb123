// FP16 and BF16 conversion of a model's float32 tensors and computation.
#pragma once

#include <cstdint>

#include <onnx/onnx_pb.h>

#include "io/tensor_store.hpp"
#include "onnxquant/options.hpp"
#include "onnxquant/report.hpp"

namespace onnxquant::passes {

// Operator types that stay float32 under -p fp16. Operators without float16 in their ONNX type
// constraints stay float32 too.
//  - Random generators and EyeLike take their output type from an attribute.
//  - BatchNormalization: ONNX Runtime 1.23.2's CPU float16 kernel moved the PP-OCRv4 detector's
//    output to cosine similarity 0.84 against float32, while float32 BatchNormalization between
//    float16 layers kept it at 0.999999.
inline constexpr const char* kDefaultKeepFp32Ops[] = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "EyeLike",
    "BatchNormalization",
};

// Converts float32 to `target` (TensorProto::FLOAT16 or BFLOAT16) in place:
//  - FLOAT16: nodes whose operator accepts float16 compute in float16; other nodes stay float32
//    with Casts around them. Weights are stored in float16.
//  - BFLOAT16: weights are stored in bfloat16 and Cast to float32 where they are used. All
//    computation stays float32, because ONNX Runtime's CPU provider has almost no bfloat16 kernels.
// Graph inputs and outputs keep float32 unless options.convert_io is set.
// Weights that the input stored externally are read from `store` and, when it writes the output's
// external data, move there as soon as they are converted.
void convert_float_model(onnx::ModelProto& model, io::TensorStore& store, const QuantizeOptions& options,
                         int32_t target, Report& report);

}  // namespace onnxquant::passes
