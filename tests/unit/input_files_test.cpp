// Input files: NAME=FILE entries, folders in the ONNX backend test layout, TensorProto files, and
// the folder that --save-inputs writes.
#include "compare/input_files.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <onnx/onnx_pb.h>

#include "compare/saved_inputs.hpp"
#include "compare/tensor_values.hpp"
#include "io/tensor_data.hpp"
#include "io/tensor_file.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::compare {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

class InputFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() /
              ("onnxquant_input_files_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  fs::path write(const std::string& relative, const std::string& bytes) {
    const fs::path path = folder_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  fs::path write_proto(const std::string& relative, const TensorProto& proto) {
    return write(relative, proto.SerializeAsString());
  }

  fs::path folder_;
};

const std::vector<eval::ValueDescription> kInputs = {
    {"ids", TensorProto::INT64, {1, -1}, {"", "sequence"}},
    {"x", TensorProto::FLOAT, {2}, {""}},
};

TensorProto ids_proto(std::vector<int64_t> values) {
  TensorProto proto;
  proto.set_name("ignored");
  proto.set_data_type(TensorProto::INT64);
  proto.add_dims(1);
  proto.add_dims(static_cast<int64_t>(values.size()));
  for (int64_t value : values) proto.add_int64_data(value);
  return proto;
}

TensorProto x_proto(float first, float second) {
  const std::vector<float> values{first, second};
  return io::make_float_tensor("x", {2}, values);
}

// A .npy file of float32 values with shape [count].
std::string npy_floats(const std::vector<float>& values) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(values.size()) + ",), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  return file + header + std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

TEST_F(InputFiles, NamedFilesMixNpyAndProto) {
  const fs::path ids = write_proto("ids.pb", ids_proto({5, 6, 7}));
  const fs::path x = write("x.npy", npy_floats({1.5f, -2.0f}));
  const InputSamples samples = read_input_files({"ids=" + ids.string(), "x=" + x.string()}, kInputs, "--inputs");
  ASSERT_EQ(samples.samples.size(), 1u);
  EXPECT_EQ(to_doubles(samples.samples[0].at("ids")), (std::vector<double>{5, 6, 7}));
  EXPECT_EQ(samples.samples[0].at("ids").shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(to_doubles(samples.samples[0].at("x")), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(samples.sources[0].at("x"), x.string());
  EXPECT_EQ(samples.files.size(), 2u);
}

TEST_F(InputFiles, NamedFilesErrors) {
  const fs::path ids = write_proto("ids.pb", ids_proto({1}));
  const fs::path x = write("x.npy", npy_floats({1, 2}));
  EXPECT_THROW(read_input_files({"ids=" + ids.string()}, kInputs, "--inputs"), UsageError);  // x missing
  EXPECT_THROW(read_input_files({"ids=" + ids.string(), "ids=" + ids.string(), "x=" + x.string()}, kInputs, "--inputs"),
               UsageError);
  EXPECT_THROW(read_input_files({"nope=" + ids.string(), "x=" + x.string()}, kInputs, "--inputs"), UsageError);
  EXPECT_THROW(read_input_files({ids.string()}, kInputs, "--inputs"), UsageError);  // neither NAME=FILE nor a folder
  EXPECT_THROW(read_input_files({"ids=" + (folder_ / "missing.pb").string(), "x=" + x.string()}, kInputs, "--inputs"), IoError);
  EXPECT_THROW(read_input_files({folder_.string(), "x=" + x.string()}, kInputs, "--inputs"), UsageError);
}

TEST_F(InputFiles, FlatFolderIsOneSample) {
  write_proto("flat/input_0.pb", ids_proto({1, 2}));
  write("flat/input_1.npy", npy_floats({3, 4}));
  write_proto("flat/output_0.pb", ids_proto({9}));  // outputs of a backend test are ignored
  const InputSamples samples = read_input_files({(folder_ / "flat").string()}, kInputs, "--inputs");
  ASSERT_EQ(samples.samples.size(), 1u);
  EXPECT_EQ(to_doubles(samples.samples[0].at("x")), (std::vector<double>{3, 4}));
}

TEST_F(InputFiles, TestDataSetsInNumericOrder) {
  for (int set : {0, 1, 10, 2}) {
    write_proto("sets/test_data_set_" + std::to_string(set) + "/input_0.pb", ids_proto({set}));
    write_proto("sets/test_data_set_" + std::to_string(set) + "/input_1.pb", x_proto(0, 0));
  }
  const InputSamples samples = read_input_files({(folder_ / "sets").string()}, kInputs, "--inputs");
  ASSERT_EQ(samples.samples.size(), 4u);
  std::vector<double> order;
  for (const auto& feeds : samples.samples) order.push_back(to_doubles(feeds.at("ids"))[0]);
  EXPECT_EQ(order, (std::vector<double>{0, 1, 2, 10}));
}

TEST_F(InputFiles, FolderErrors) {
  write_proto("missing/input_0.pb", ids_proto({1}));
  EXPECT_THROW(read_input_files({(folder_ / "missing").string()}, kInputs, "--inputs"), UsageError);

  write_proto("extra/input_0.pb", ids_proto({1}));
  write_proto("extra/input_1.pb", x_proto(0, 0));
  write_proto("extra/input_2.pb", x_proto(0, 0));
  EXPECT_THROW(read_input_files({(folder_ / "extra").string()}, kInputs, "--inputs"), UsageError);

  write_proto("twice/input_0.pb", ids_proto({1}));
  write_proto("twice/input_1.pb", x_proto(0, 0));
  write("twice/input_1.npy", npy_floats({0, 0}));
  EXPECT_THROW(read_input_files({(folder_ / "twice").string()}, kInputs, "--inputs"), UsageError);

  fs::create_directories(folder_ / "empty");
  EXPECT_THROW(read_input_files({(folder_ / "empty").string()}, kInputs, "--inputs"), UsageError);
}

// Returns the message of the IoError that reading `entries` throws, or "" when it throws none.
std::string io_error_of(const std::vector<std::string>& entries, const std::string& option) {
  try {
    read_input_files(entries, kInputs, option);
  } catch (const IoError& error) {
    return error.what();
  }
  return "";
}

TEST_F(InputFiles, MissingFolderIsNotFound) {
  const std::string missing = (folder_ / "nodir").string();
  EXPECT_EQ(io_error_of({missing + "/"}, "--inputs"), "--inputs folder '" + missing + "/' not found");
  EXPECT_EQ(io_error_of({missing}, "--eval-inputs"), "--eval-inputs folder '" + missing + "' not found");
  EXPECT_THROW(read_input_folder(folder_ / "nodir", kInputs, "--calibration-data"), IoError);
}

TEST_F(InputFiles, MessagesNameTheOption) {
  const fs::path ids = write_proto("ids.pb", ids_proto({1}));
  try {
    read_input_files({"ids=" + ids.string()}, kInputs, "--eval-inputs");
    FAIL() << "a missing input was accepted";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()), "--eval-inputs gives no file for input 'x'; add --eval-inputs x=FILE");
  }
  try {
    read_input_folder(ids, kInputs, "--calibration-data");
    FAIL() << "a file was accepted as a folder";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()), "--calibration-data '" + ids.string() + "' is not a folder");
  }
}

TEST_F(InputFiles, InvalidTensorFiles) {
  const fs::path x = write("x.npy", npy_floats({1, 2}));
  const auto rejects = [&](const std::string& bytes) {
    const fs::path ids = write("bad.pb", bytes);
    EXPECT_THROW(read_input_files({"ids=" + ids.string(), "x=" + x.string()}, kInputs, "--inputs"), UsageError);
  };
  rejects("this is not a tensor");
  rejects(npy_floats({1, 2}).substr(0, 70));  // truncated .npy

  TensorProto short_data = ids_proto({1, 2, 3});
  short_data.mutable_int64_data()->RemoveLast();
  rejects(short_data.SerializeAsString());

  TensorProto external = ids_proto({});
  external.set_data_location(TensorProto::EXTERNAL);
  auto* entry = external.add_external_data();
  entry->set_key("location");
  entry->set_value("/etc/passwd");
  rejects(external.SerializeAsString());

  TensorProto text;
  text.set_data_type(TensorProto::STRING);
  text.add_dims(1);
  text.add_string_data("hello");
  rejects(text.SerializeAsString());
}

TEST(TensorFile, TypedFieldsBecomeDenseBytes) {
  TensorProto halves;
  halves.set_data_type(TensorProto::FLOAT16);
  halves.add_dims(2);
  halves.add_int32_data(0x3c00);  // 1.0
  halves.add_int32_data(0xc000);  // -2.0
  EXPECT_EQ(to_doubles(io::tensor_from_proto(halves, "h.pb")), (std::vector<double>{1.0, -2.0}));

  TensorProto bools;
  bools.set_data_type(TensorProto::BOOL);
  bools.add_dims(3);
  for (int value : {1, 0, 1}) bools.add_int32_data(value);
  EXPECT_EQ(to_doubles(io::tensor_from_proto(bools, "b.pb")), (std::vector<double>{1, 0, 1}));

  TensorProto unsigned32;
  unsigned32.set_data_type(TensorProto::UINT32);
  unsigned32.add_dims(1);
  unsigned32.add_uint64_data(4000000000u);
  EXPECT_EQ(to_doubles(io::tensor_from_proto(unsigned32, "u.pb")), (std::vector<double>{4000000000.0}));

  // The evaluator reads any nonzero bool value as true.
  bools.set_int32_data(0, 2);
  EXPECT_EQ(to_doubles(io::tensor_from_proto(bools, "b.pb")), (std::vector<double>{1, 0, 1}));

  TensorProto wrong_field;
  wrong_field.set_data_type(TensorProto::FLOAT);
  wrong_field.add_dims(1);
  wrong_field.add_int64_data(1);
  EXPECT_THROW(io::tensor_from_proto(wrong_field, "w.pb"), UsageError);

  TensorProto huge;
  huge.set_data_type(TensorProto::FLOAT);
  huge.add_dims(int64_t{1} << 40);
  EXPECT_THROW(io::tensor_from_proto(huge, "huge.pb"), UsageError);
}

TEST_F(InputFiles, SavedInputsReadBack) {
  const std::vector<Feeds> samples = {
      {{"ids", from_doubles(TensorProto::INT64, {1, 2}, std::vector<double>{3, 4})},
       {"x", from_doubles(TensorProto::FLOAT, {2}, std::vector<double>{0.5, 1})}},
      {{"ids", from_doubles(TensorProto::INT64, {1, 2}, std::vector<double>{5, 6})},
       {"x", from_doubles(TensorProto::FLOAT, {2}, std::vector<double>{2, 3})}},
  };
  const fs::path saved = folder_ / "saved";
  {
    SavedInputsFolder writer(saved);
    writer.write(samples, {"ids", "x"});
    EXPECT_FALSE(fs::exists(saved));  // nothing at the destination before commit
    writer.commit();
  }
  EXPECT_TRUE(fs::exists(saved / "test_data_set_1" / "input_1.pb"));
  const InputSamples read = read_input_files({saved.string()}, kInputs, "--inputs");
  ASSERT_EQ(read.samples.size(), 2u);
  EXPECT_EQ(read.samples[1].at("ids").data, samples[1].at("ids").data);
  EXPECT_EQ(read.samples[1].at("x").data, samples[1].at("x").data);

  // An existing folder with files in it is rejected before anything is written.
  EXPECT_THROW(SavedInputsFolder{saved}, UsageError);
  EXPECT_THROW(SavedInputsFolder{folder_ / "no" / "parent"}, IoError);
}

TEST_F(InputFiles, SavedInputsLeaveNothingWithoutCommit) {
  {
    SavedInputsFolder writer(folder_ / "aborted");
    writer.write({{{"x", from_doubles(TensorProto::FLOAT, {1}, std::vector<double>{1})}}}, {"x"});
  }
  EXPECT_TRUE(fs::is_empty(folder_));
}

}  // namespace
}  // namespace onnxquant::compare
