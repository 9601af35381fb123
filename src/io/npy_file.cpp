#include "io/npy_file.hpp"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>
#include <limits>
#include <map>
#include <onnx/onnx_pb.h>
#include <optional>
#include <string>

#include "io/tensor_data.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::io {
namespace {

using onnx::TensorProto;

constexpr std::string_view kMagic = "\x93NUMPY";

[[noreturn]] void fail(std::string_view source, const std::string& problem) {
  throw UsageError(fmt::format("input file '{}' is not a valid .npy file: {}", source, problem));
}

// A value of the header dictionary: a string, a bool or a tuple of integers.
struct HeaderValue {
  std::optional<std::string> text;
  std::optional<bool> flag;
  std::optional<std::vector<int64_t>> shape;
};

// A strict reader of the Python dict literal that NumPy writes as the header, for example
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  std::map<std::string, HeaderValue> parse_dictionary() {
    std::map<std::string, HeaderValue> entries;
    expect('{');
    while (true) {
      skip_spaces();
      if (consume('}')) break;
      std::string key = parse_string();
      expect(':');
      if (entries.count(key) > 0) fail(source_, fmt::format("the header repeats the key '{}'", key));
      entries[key] = parse_value();
      skip_spaces();
      if (consume('}')) break;
      expect(',');
    }
    skip_spaces();
    if (position_ != text_.size()) fail(source_, "the header has text after its dictionary");
    return entries;
  }

 private:
  void skip_spaces() {
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_]))) ++position_;
  }

  bool consume(char expected) {
    skip_spaces();
    if (position_ < text_.size() && text_[position_] == expected) {
      ++position_;
      return true;
    }
    return false;
  }

  void expect(char expected) {
    if (!consume(expected)) fail(source_, fmt::format("the header dictionary is malformed: '{}' expected at byte {}", expected, position_));
  }

  bool consume_word(std::string_view word) {
    skip_spaces();
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  std::string parse_string() {
    skip_spaces();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"')) {
      fail(source_, fmt::format("the header dictionary is malformed: a quoted string expected at byte {}", position_));
    }
    const char quote = text_[position_++];
    const size_t end = text_.find(quote, position_);
    if (end == std::string_view::npos) fail(source_, "the header has an unterminated string");
    std::string value(text_.substr(position_, end - position_));
    position_ = end + 1;
    return value;
  }

  int64_t parse_dimension() {
    skip_spaces();
    uint64_t value = 0;
    const size_t start = position_;
    while (position_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[position_]))) {
      const uint64_t digit = static_cast<uint64_t>(text_[position_] - '0');
      if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10) {
        fail(source_, "a dimension of the shape is larger than 2^63 - 1");
      }
      value = value * 10 + digit;
      ++position_;
    }
    if (position_ == start) fail(source_, fmt::format("the shape is malformed: a dimension expected at byte {}", position_));
    consume('L');  // Python 2 wrote long integers with this suffix.
    return static_cast<int64_t>(value);
  }

  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    while (true) {
      if (consume(')')) break;
      shape.push_back(parse_dimension());
      if (consume(')')) break;
      expect(',');
    }
    return shape;
  }

  HeaderValue parse_value() {
    HeaderValue value;
    skip_spaces();
    if (consume('(')) {
      value.shape = parse_shape();
    } else if (consume_word("True")) {
      value.flag = true;
    } else if (consume_word("False")) {
      value.flag = false;
    } else if (position_ < text_.size() && text_[position_] == '[') {
      fail(source_, "structured arrays (a list as 'descr') are not supported");
    } else {
      value.text = parse_string();
    }
    return value;
  }

  std::string_view text_;
  std::string_view source_;
  size_t position_ = 0;
};

// Maps a NumPy type string such as '<f4' to an ONNX element type.
int32_t onnx_type_of(const std::string& descr, std::string_view source) {
  static const std::map<std::string, int32_t> kTypes = {
      {"b1", TensorProto::BOOL},   {"i1", TensorProto::INT8},    {"u1", TensorProto::UINT8},
      {"i2", TensorProto::INT16},  {"u2", TensorProto::UINT16},  {"i4", TensorProto::INT32},
      {"u4", TensorProto::UINT32}, {"i8", TensorProto::INT64},   {"u8", TensorProto::UINT64},
      {"f2", TensorProto::FLOAT16}, {"f4", TensorProto::FLOAT},  {"f8", TensorProto::DOUBLE},
  };
  const bool has_order = !descr.empty() && std::string_view("<>|=").find(descr.front()) != std::string_view::npos;
  const std::string kind = has_order ? descr.substr(1) : descr;
  const auto found = kTypes.find(kind);
  if (found == kTypes.end()) {
    throw UsageError(fmt::format("input file '{}': the .npy element type '{}' is not supported; use bool, int8 to "
                                 "int64, uint8 to uint64, float16, float32 or float64",
                                 source, descr));
  }
  // '=' is the byte order of the writer, which NumPy never writes; onnxquant runs on little-endian
  // hosts only, so it is read as little-endian.
  if (has_order && descr.front() == '>' && element_size(found->second) > 1) {
    throw UsageError(fmt::format("input file '{}': big-endian data ('{}') is not supported; save it with "
                                 "numpy.save(file, array.astype(array.dtype.newbyteorder('<')))",
                                 source, descr));
  }
  return found->second;
}

uint32_t read_little_endian(std::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

// Returns the header text and the offset of the data.
std::pair<std::string_view, size_t> split_header(std::string_view bytes, std::string_view source) {
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic) {
    fail(source, "the file does not start with the .npy magic string");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) fail(source, fmt::format("format version {} is not supported (1, 2 and 3 are)", major));
  const size_t length_width = major == 1 ? 2 : 4;
  const size_t header_start = 8 + length_width;
  if (bytes.size() < header_start) fail(source, "the file ends inside the header length");
  const size_t header_length = read_little_endian(bytes, 8, length_width);
  if (header_length > kMaxNpyHeaderBytes) {
    fail(source, fmt::format("the header is {} bytes long, more than the limit of {}", header_length, kMaxNpyHeaderBytes));
  }
  if (bytes.size() - header_start < header_length) fail(source, "the file ends inside the header");
  return {bytes.substr(header_start, header_length), header_start + header_length};
}

uint64_t checked_count(const std::vector<int64_t>& shape, uint64_t element_bytes, std::string_view source) {
  uint64_t bytes = element_bytes;
  for (int64_t dimension : shape) {
    const auto size = static_cast<uint64_t>(dimension);
    if (size != 0 && bytes > UINT64_MAX / size) fail(source, "the size of the shape overflows 64 bits");
    bytes *= size;
  }
  return bytes;
}

// Throws UsageError, naming `source`, when a bool tensor has a byte other than 0 and 1.
void reject_invalid_bools(const eval::Tensor& tensor, std::string_view source) {
  if (tensor.dtype != TensorProto::BOOL) return;
  for (size_t i = 0; i < tensor.data.size(); ++i) {
    if (tensor.data[i] > std::byte{1}) {
      throw UsageError(fmt::format("input file '{}': bool value {} at index {} is not 0 or 1", source,
                                   static_cast<int>(tensor.data[i]), i));
    }
  }
}

}  // namespace

eval::Tensor parse_npy(std::string_view bytes, std::string_view source) {
  const auto [header, data_offset] = split_header(bytes, source);
  const auto entries = HeaderParser(header, source).parse_dictionary();
  for (const char* key : {"descr", "fortran_order", "shape"}) {
    if (entries.count(key) == 0) fail(source, fmt::format("the header has no '{}'", key));
  }
  if (entries.size() != 3) fail(source, "the header has keys other than 'descr', 'fortran_order' and 'shape'");
  const HeaderValue& descr = entries.at("descr");
  const HeaderValue& fortran_order = entries.at("fortran_order");
  const HeaderValue& shape = entries.at("shape");
  if (!descr.text) fail(source, "'descr' is not a string");
  if (!fortran_order.flag) fail(source, "'fortran_order' is not True or False");
  if (!shape.shape) fail(source, "'shape' is not a tuple");
  if (*fortran_order.flag) {
    throw UsageError(fmt::format("input file '{}' is in Fortran (column-major) order, which is not supported; save it "
                                 "with numpy.save(file, numpy.ascontiguousarray(array))",
                                 source));
  }

  eval::Tensor tensor;
  tensor.dtype = onnx_type_of(*descr.text, source);
  tensor.shape = *shape.shape;
  const uint64_t expected = checked_count(tensor.shape, element_size(tensor.dtype), source);
  const uint64_t found = bytes.size() - data_offset;
  if (found < expected) {
    fail(source, fmt::format("it is truncated: shape {} needs {} bytes of data but the file has {}",
                             format_shape(tensor.shape), expected, found));
  }
  if (found > expected) {
    fail(source, fmt::format("it has {} bytes after the {} bytes of data that shape {} needs", found - expected,
                             expected, format_shape(tensor.shape)));
  }

  tensor.data.resize(expected);
  if (expected > 0) std::memcpy(tensor.data.data(), bytes.data() + data_offset, expected);
  reject_invalid_bools(tensor, source);
  return tensor;
}

}  // namespace onnxquant::io
