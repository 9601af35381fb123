#include "report/html_escape.hpp"

#include <fmt/format.h>

#include "io/quoted_name.hpp"

namespace onnxquant::report {

std::string escape_html(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      const size_t length = io::utf8_sequence_length(text.substr(i));
      if (length == 0) {
        result += fmt::format("\\x{:02x}", byte);
        ++i;
      } else {
        result.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (byte) {
      case '&': result += "&amp;"; break;
      case '<': result += "&lt;"; break;
      case '>': result += "&gt;"; break;
      case '"': result += "&quot;"; break;
      case '\'': result += "&#39;"; break;
      default:
        if (byte < 0x20 || byte == 0x7F) {
          result += fmt::format("\\x{:02x}", byte);
        } else {
          result += static_cast<char>(byte);
        }
    }
    ++i;
  }
  return result;
}

}  // namespace onnxquant::report
