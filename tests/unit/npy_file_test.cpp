#include "io/npy_file.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <onnx/onnx_pb.h>
#include <string>
#include <vector>

#include "onnxquant/errors.hpp"

namespace onnxquant::io {
namespace {

using onnx::TensorProto;

// Builds a version 1.0 .npy file the way numpy.save writes it: magic, version, header length, the
// header dictionary padded with spaces and a newline to a multiple of 64 bytes, then the data.
std::string npy_file(const std::string& dictionary, const std::string& data, char major = 1) {
  const size_t length_width = major == 1 ? 2 : 4;
  std::string header = dictionary;
  const size_t preamble = 8 + length_width;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';

  std::string file = std::string("\x93NUMPY", 6) + major + '\0';
  for (size_t i = 0; i < length_width; ++i) file += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return file + header + data;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)};
}

template <typename T>
std::vector<T> values_of(const eval::Tensor& tensor) {
  std::vector<T> values(tensor.data.size() / sizeof(T));
  std::memcpy(values.data(), tensor.data.data(), tensor.data.size());
  return values;
}

TEST(NpyFile, ReadsFloat32Matrix) {
  const std::vector<float> values{1.0f, -2.5f, 3.0f, 0.0f, 5.0f, 6.25f};
  const auto tensor = parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                         bytes_of(values)),
                                "x.npy");
  EXPECT_EQ(tensor.dtype, TensorProto::FLOAT);
  EXPECT_EQ(tensor.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values_of<float>(tensor), values);
}

TEST(NpyFile, ReadsEveryElementType) {
  struct Case {
    const char* descr;
    int32_t dtype;
    size_t width;
  };
  const Case cases[] = {
      {"|b1", TensorProto::BOOL, 1},    {"|i1", TensorProto::INT8, 1},     {"|u1", TensorProto::UINT8, 1},
      {"<i2", TensorProto::INT16, 2},   {"<u2", TensorProto::UINT16, 2},   {"<i4", TensorProto::INT32, 4},
      {"<u4", TensorProto::UINT32, 4},  {"<i8", TensorProto::INT64, 8},    {"<u8", TensorProto::UINT64, 8},
      {"<f2", TensorProto::FLOAT16, 2}, {"<f8", TensorProto::DOUBLE, 8},   {"=f4", TensorProto::FLOAT, 4},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.descr);
    const std::string data(3 * test.width, '\x01');
    const auto tensor = parse_npy(
        npy_file(std::string("{'descr': '") + test.descr + "', 'fortran_order': False, 'shape': (3,), }", data), "t.npy");
    EXPECT_EQ(tensor.dtype, test.dtype);
    EXPECT_EQ(tensor.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(tensor.data.size(), data.size());
  }
}

TEST(NpyFile, ReadsInt64ScalarAndVersionTwo) {
  const std::vector<int64_t> value{-7};
  const auto scalar = parse_npy(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", bytes_of(value)),
                                "s.npy");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(values_of<int64_t>(scalar), value);

  const auto version_two = parse_npy(
      npy_file("{\"descr\": \"<i8\", \"shape\": (1, 1), \"fortran_order\": False}", bytes_of(value), 2), "v2.npy");
  EXPECT_EQ(version_two.shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(values_of<int64_t>(version_two), value);
}

TEST(NpyFile, ReadsEmptyArray) {
  const auto tensor = parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0, 8), }", ""), "e.npy");
  EXPECT_EQ(tensor.shape, (std::vector<int64_t>{1, 0, 8}));
  EXPECT_TRUE(tensor.data.empty());
}

void expect_rejected(const std::string& file, const std::string& expected_text) {
  try {
    parse_npy(file, "bad.npy");
    ADD_FAILURE() << "accepted a file that should fail with: " << expected_text;
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find(expected_text), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("bad.npy"), std::string::npos) << error.what();
  }
}

TEST(NpyFile, RejectsFortranOrder) {
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0')),
                  "Fortran");
}

TEST(NpyFile, RejectsTruncatedData) {
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", std::string(20, '\0')),
                  "truncated: shape [2, 3] needs 24 bytes of data but the file has 20");
}

TEST(NpyFile, RejectsTrailingBytes) {
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
                  "4 bytes after the 4 bytes of data");
}

TEST(NpyFile, RejectsTruncatedHeader) {
  const std::string file = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "");
  expect_rejected(file.substr(0, 30), "ends inside the header");
  expect_rejected(file.substr(0, 9), "ends inside the header length");
  expect_rejected(file.substr(0, 4), "magic string");
}

TEST(NpyFile, RejectsBigEndianAndUnsupportedTypes) {
  expect_rejected(npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')),
                  "big-endian");
  expect_rejected(npy_file("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
                  "element type '|O' is not supported");
  expect_rejected(npy_file("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", std::string(12, '\0')),
                  "not supported");
  expect_rejected(npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')),
                  "structured arrays");
}

TEST(NpyFile, RejectsHostileHeaders) {
  // A shape whose byte size overflows 64 bits.
  expect_rejected(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""),
                  "overflows");
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", ""),
                  "larger than 2^63 - 1");
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""), "shape is malformed");
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False}", ""), "no 'shape'");
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", ""),
                  "malformed");
  expect_rejected(npy_file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", ""),
                  "repeats the key");
  expect_rejected(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", std::string(4, '\0')),
                  "text after its dictionary");
  expect_rejected(npy_file("{'descr': '<f4, 'fortran_order': False", ""), "malformed");
  expect_rejected(npy_file("{'descr': 1}", ""), "malformed");
}

TEST(NpyFile, RejectsOversizedHeaderLength) {
  // Version 2 allows a 4-byte header length; one beyond the limit is rejected before it is read.
  std::string file = std::string("\x93NUMPY\x02\x00", 8) + std::string("\xff\xff\xff\x7f", 4);
  expect_rejected(file, "more than the limit");
}

TEST(NpyFile, RejectsBoolBytesOtherThanZeroAndOne) {
  expect_rejected(npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", std::string("\x01\x02", 2)),
                  "bool value 2 at index 1");
}

TEST(NpyFile, RejectsUnknownVersion) {
  std::string file = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'));
  file[6] = 9;
  expect_rejected(file, "format version 9");
}

}  // namespace
}  // namespace onnxquant::io
