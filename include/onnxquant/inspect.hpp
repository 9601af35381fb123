// A description of a model: versions, operators, inputs and outputs, and every stored tensor.
#pragma once

#include <string>

#include "onnxquant/model.hpp"

namespace onnxquant {

// Text for a terminal. The model may have been loaded without its external data.
std::string inspect_text(Model& model);
// The same content as JSON.
std::string inspect_json(Model& model);

}  // namespace onnxquant
