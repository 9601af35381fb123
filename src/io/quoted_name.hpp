// Names from a model file, made safe to print in messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace onnxquant::io {

// Names longer than this many bytes are cut in messages.
inline constexpr size_t kMaxNameBytesInMessage = 120;

// Returns `name` in single quotes for a log or error message. Bytes that are control characters or
// not part of valid UTF-8 are written as \xNN, and a quote or backslash gets a backslash. A name
// longer than kMaxNameBytesInMessage bytes is cut at a character boundary and followed by its
// length, for example 'aaaa...' (5000 bytes).
std::string quoted_name(std::string_view name);

// Length of the valid UTF-8 sequence that starts at `text[0]`, or 0 when it is not one.
// Overlong forms, surrogates and code points above U+10FFFF are invalid (RFC 3629).
size_t utf8_sequence_length(std::string_view text);

}  // namespace onnxquant::io
