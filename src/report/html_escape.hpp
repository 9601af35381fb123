// Text from a model, made safe to place in HTML and SVG.
#pragma once

#include <string>
#include <string_view>

namespace onnxquant::report {

// Escapes `text` for HTML text or a quoted attribute value: &, <, >, " and ' become character
// references, and control characters and bytes that are not part of valid UTF-8 are written as
// \xNN, as in log messages (io/quoted_name.hpp).
std::string escape_html(std::string_view text);

}  // namespace onnxquant::report
