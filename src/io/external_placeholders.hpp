// Placeholders for the external data references of a model, for the ONNX library functions that
// cannot handle them: libonnx 1.12's version converter drops external_data and data_location, and
// its checker looks for the files relative to the working folder.
#pragma once

#include <vector>

#include <onnx/onnx_pb.h>

namespace onnxquant::io {

class ExternalPlaceholders {
 public:
  // Replaces the external reference of every tensor of `model` with a short token in raw_data.
  // The checker accepts such a tensor, and the converter copies the token along with the tensor.
  explicit ExternalPlaceholders(onnx::ModelProto& model);

  // Puts the external references back into the tensors of `model` that carry a token, which may be
  // the model given to the constructor or one converted from it.
  void restore(onnx::ModelProto& model) const;

  bool empty() const { return references_.empty(); }

 private:
  struct Reference {
    google::protobuf::RepeatedPtrField<onnx::StringStringEntryProto> entries;
  };
  std::vector<Reference> references_;
};

}  // namespace onnxquant::io
