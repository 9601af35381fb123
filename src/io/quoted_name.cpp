#include "io/quoted_name.hpp"

#include <fmt/format.h>

namespace onnxquant::io {

size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;
    if (lead == 0xED) max_second = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;
    if (lead == 0xF4) max_second = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < min_second || byte(1) > max_second) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

std::string quoted_name(std::string_view name) {
  std::string result = "'";
  size_t i = 0;
  while (i < name.size() && i < kMaxNameBytesInMessage) {
    const unsigned char byte = static_cast<unsigned char>(name[i]);
    if (byte >= 0x80) {
      const size_t length = utf8_sequence_length(name.substr(i));
      if (length == 0) {
        result += fmt::format("\\x{:02x}", byte);
        ++i;
        continue;
      }
      if (i + length > kMaxNameBytesInMessage) break;
      result.append(name.substr(i, length));
      i += length;
      continue;
    }
    if (byte < 0x20 || byte == 0x7F) {
      result += fmt::format("\\x{:02x}", byte);
    } else {
      if (byte == '\'' || byte == '\\') result += '\\';
      result += static_cast<char>(byte);
    }
    ++i;
  }
  result += "'";
  if (i < name.size()) result = fmt::format("{}...' ({} bytes)", result.substr(0, result.size() - 1), name.size());
  return result;
}

}  // namespace onnxquant::io
