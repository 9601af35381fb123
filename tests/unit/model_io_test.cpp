// Loading and saving models: external data, path checks and atomic writes.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/external_data.hpp"
#include "io/external_placeholders.hpp"
#include "io/tensor_data.hpp"
#include "io/tensor_store.hpp"
#include "onnxquant/errors.hpp"
#include "onnxquant/model.hpp"
#include "test_models.hpp"

namespace onnxquant {
namespace {

namespace fs = std::filesystem;

class ModelIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "onnxquant-io-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    folder_ = pattern;
  }
  void TearDown() override { fs::remove_all(folder_); }

  onnx::ModelProto make_model() {
    onnx::ModelProto model = testing::parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x) => (float[B, 32] y) { y = MatMul (x, w) }
)ONNX");
    testing::add_weight(*model.mutable_graph(), "w", {64, 32}, 11);
    return model;
  }

  // Saves `model` with its weight moved to `data_file` at the given location entry, after
  // `padding` zero bytes.
  fs::path save_with_external(onnx::ModelProto model, const std::string& location, const fs::path& data_file,
                              size_t padding = 0) {
    auto* weight = model.mutable_graph()->mutable_initializer(0);
    {
      std::ofstream out(data_file, std::ios::binary);
      out << std::string(padding, '\0') << weight->raw_data();
    }
    const auto length = weight->raw_data().size();
    weight->clear_raw_data();
    weight->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const std::string& key, const std::string& value) {
      auto* entry = weight->add_external_data();
      entry->set_key(key);
      entry->set_value(value);
    };
    add("location", location);
    add("offset", std::to_string(padding));
    add("length", std::to_string(length));
    const fs::path path = folder_ / "model.onnx";
    std::ofstream out(path, std::ios::binary);
    model.SerializeToOstream(&out);
    return path;
  }

  std::vector<std::string> temporary_files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder_)) {
      if (entry.path().filename().string().find(".tmp-") != std::string::npos) names.push_back(entry.path().string());
    }
    return names;
  }

  fs::path folder_;
};

TEST_F(ModelIoTest, InlineRoundTrip) {
  onnx::ModelProto model = make_model();
  const std::string expected = model.graph().initializer(0).raw_data();
  const SaveResult saved = save_model(model, folder_ / "out.onnx", {});

  EXPECT_TRUE(saved.external_data_path.empty());
  EXPECT_EQ(saved.model_bytes, fs::file_size(folder_ / "out.onnx"));
  const Model loaded = load_model(folder_ / "out.onnx");
  EXPECT_EQ(loaded.proto.graph().initializer(0).raw_data(), expected);
  EXPECT_TRUE(temporary_files().empty());
}

TEST_F(ModelIoTest, ExternalDataRoundTrip) {
  onnx::ModelProto model = make_model();
  const std::string expected = model.graph().initializer(0).raw_data();
  SaveOptions options;
  options.external_data = ExternalDataMode::kAlways;
  const SaveResult saved = save_model(model, folder_ / "out.onnx", options);

  EXPECT_EQ(saved.external_data_path, folder_ / "out.onnx.data");
  EXPECT_EQ(fs::file_size(saved.external_data_path), expected.size());
  const Model loaded = load_model(folder_ / "out.onnx");
  EXPECT_EQ(loaded.proto.graph().initializer(0).raw_data(), expected);
  ASSERT_EQ(loaded.external_files.size(), 1u);
  EXPECT_EQ(loaded.total_bytes, fs::file_size(folder_ / "out.onnx") + expected.size());
  EXPECT_TRUE(temporary_files().empty());
}

TEST_F(ModelIoTest, ExternalLocationIsFileNameOnly) {
  onnx::ModelProto model = make_model();
  SaveOptions options;
  options.external_data = ExternalDataMode::kAlways;
  fs::create_directory(folder_ / "sub");
  save_model(model, folder_ / "sub" / "out.onnx", options);

  LoadOptions load;
  load.external_data = ExternalDataLoading::kMap;
  const Model stored = load_model(folder_ / "sub" / "out.onnx", load);
  const auto& entries = stored.proto.graph().initializer(0).external_data();
  ASSERT_GT(entries.size(), 0);
  EXPECT_EQ(entries[0].key(), "location");
  EXPECT_EQ(entries[0].value(), "out.onnx.data");
}

TEST_F(ModelIoTest, NeverModeKeepsInline) {
  onnx::ModelProto model = make_model();
  SaveOptions options;
  options.external_data = ExternalDataMode::kNever;
  options.input_had_external_data = true;
  const SaveResult saved = save_model(model, folder_ / "out.onnx", options);
  EXPECT_TRUE(saved.external_data_path.empty());
  EXPECT_FALSE(fs::exists(folder_ / "out.onnx.data"));
}

TEST_F(ModelIoTest, MissingOutputFolderLeavesNothing) {
  onnx::ModelProto model = make_model();
  EXPECT_THROW(save_model(model, folder_ / "absent" / "out.onnx", {}), IoError);
  EXPECT_FALSE(fs::exists(folder_ / "absent"));
}

TEST_F(ModelIoTest, LoadsRelativeExternalData) {
  const fs::path path = save_with_external(make_model(), "weights.bin", folder_ / "weights.bin");
  const Model model = load_model(path);
  EXPECT_EQ(model.proto.graph().initializer(0).raw_data().size(), 64u * 32u * 4u);
  EXPECT_FALSE(model.proto.graph().initializer(0).has_data_location());
}

TEST_F(ModelIoTest, RejectsParentTraversal) {
  const fs::path path = save_with_external(make_model(), "../weights.bin", folder_.parent_path() / "weights.bin");
  EXPECT_THROW(load_model(path), ModelError);
  fs::remove(folder_.parent_path() / "weights.bin");
}

TEST_F(ModelIoTest, RejectsAbsoluteLocation) {
  const fs::path data = folder_ / "weights.bin";
  const fs::path path = save_with_external(make_model(), data.string(), data);
  EXPECT_THROW(load_model(path), ModelError);
}

TEST_F(ModelIoTest, RejectsSymbolicLink) {
  const fs::path target = folder_ / "real.bin";
  const fs::path path = save_with_external(make_model(), "link.bin", target);
  fs::create_symlink(target, folder_ / "link.bin");
  EXPECT_THROW(load_model(path), ModelError);
}

TEST_F(ModelIoTest, RejectsHardLink) {
  const fs::path target = folder_ / "real.bin";
  const fs::path path = save_with_external(make_model(), "weights.bin", target);
  fs::create_hard_link(target, folder_ / "weights.bin");
  EXPECT_THROW(load_model(path), ModelError);
}

TEST_F(ModelIoTest, RejectsLengthPastEnd) {
  const fs::path path = save_with_external(make_model(), "weights.bin", folder_ / "weights.bin");
  fs::resize_file(folder_ / "weights.bin", 100);
  EXPECT_THROW(load_model(path), ModelError);
}

TEST_F(ModelIoTest, RejectsMalformedOffset) {
  onnx::ModelProto model = make_model();
  const fs::path path = save_with_external(model, "weights.bin", folder_ / "weights.bin");
  Model stored = load_model(path, {ExternalDataLoading::kMap});
  auto* entries = stored.proto.mutable_graph()->mutable_initializer(0)->mutable_external_data();
  for (auto& entry : *entries) {
    if (entry.key() == "offset") entry.set_value("-4");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  stored.proto.SerializeToOstream(&out);
  out.close();
  EXPECT_THROW(load_model(path), ModelError);
}

TEST_F(ModelIoTest, MappedLoadReadsOnDemand) {
  const onnx::ModelProto model = make_model();
  const std::vector<float> expected = io::read_float_values(model.graph().initializer(0));
  const fs::path path = save_with_external(model, "weights.bin", folder_ / "weights.bin");

  const Model mapped = load_model(path, {ExternalDataLoading::kMap});
  const onnx::TensorProto& weight = mapped.proto.graph().initializer(0);
  EXPECT_TRUE(io::is_external(weight));
  EXPECT_FALSE(weight.has_raw_data());
  EXPECT_THROW(io::read_float_values(weight), ModelError);
  EXPECT_EQ(io::read_float_values(weight, *mapped.store), expected);
}

TEST_F(ModelIoTest, FloatViewAtAnyOffset) {
  const onnx::ModelProto model = make_model();
  const std::vector<float> expected = io::read_float_values(model.graph().initializer(0));
  // Offset 0 is viewed in place; offset 2 is not aligned for float and is copied.
  for (size_t padding : {0, 2}) {
    SCOPED_TRACE("offset " + std::to_string(padding));
    const fs::path path = save_with_external(model, "weights.bin", folder_ / "weights.bin", padding);
    const Model mapped = load_model(path, {ExternalDataLoading::kMap});
    const onnx::TensorProto& weight = mapped.proto.graph().initializer(0);

    const io::FloatValues view = io::read_float_view(weight, *mapped.store);
    EXPECT_EQ(std::vector<float>(view.span().begin(), view.span().end()), expected);

    std::vector<float> runs;
    size_t run_count = 0;
    io::for_each_float_run(weight, *mapped.store, 100, [&](std::span<const float> run) {
      EXPECT_LE(run.size(), 100u);
      runs.insert(runs.end(), run.begin(), run.end());
      ++run_count;
    });
    EXPECT_EQ(runs, expected);
    EXPECT_EQ(run_count, (expected.size() + 99) / 100);
  }
}

TEST_F(ModelIoTest, MappedInputCopiedToOutput) {
  const onnx::ModelProto model = make_model();
  const std::string expected = model.graph().initializer(0).raw_data();
  const fs::path path = save_with_external(model, "weights.bin", folder_ / "weights.bin");
  Model mapped = load_model(path, {ExternalDataLoading::kMap});
  fs::create_directory(folder_ / "out");
  const SaveResult saved = save_model(mapped, folder_ / "out" / "out.onnx", {});

  EXPECT_EQ(saved.external_data_path, folder_ / "out" / "out.onnx.data");
  const Model loaded = load_model(folder_ / "out" / "out.onnx");
  EXPECT_EQ(loaded.proto.graph().initializer(0).raw_data(), expected);
  ASSERT_EQ(loaded.external_files.size(), 1u);
  EXPECT_EQ(loaded.external_files[0].filename(), "out.onnx.data");
}

TEST_F(ModelIoTest, MappedInputSavedInline) {
  const onnx::ModelProto model = make_model();
  const std::string expected = model.graph().initializer(0).raw_data();
  const fs::path path = save_with_external(model, "weights.bin", folder_ / "weights.bin");
  Model mapped = load_model(path, {ExternalDataLoading::kMap});
  SaveOptions options;
  options.external_data = ExternalDataMode::kNever;
  const SaveResult saved = save_model(mapped, folder_ / "inline.onnx", options);

  EXPECT_TRUE(saved.external_data_path.empty());
  const Model loaded = load_model(folder_ / "inline.onnx");
  EXPECT_TRUE(loaded.external_files.empty());
  EXPECT_EQ(loaded.proto.graph().initializer(0).raw_data(), expected);
}

TEST_F(ModelIoTest, StreamedTensorReadableBeforeSave) {
  Model model;
  model.proto = make_model();
  model.path = folder_ / "in.onnx";
  model.store = std::make_shared<io::TensorStore>(folder_);
  auto* weight = model.proto.mutable_graph()->mutable_initializer(0);
  const std::vector<float> expected = io::read_float_values(*weight);
  model.store->open_output(folder_ / "out.onnx.data");

  ASSERT_TRUE(model.store->move_to_output(*weight));
  EXPECT_TRUE(model.store->is_in_output(*weight));
  EXPECT_FALSE(weight->has_raw_data());
  EXPECT_EQ(io::read_float_values(*weight, *model.store), expected);
  EXPECT_FALSE(fs::exists(folder_ / "out.onnx.data"));

  save_model(model, folder_ / "out.onnx", {});
  const Model loaded = load_model(folder_ / "out.onnx");
  EXPECT_EQ(io::read_float_values(loaded.proto.graph().initializer(0)), expected);
  EXPECT_TRUE(temporary_files().empty());
}

TEST_F(ModelIoTest, PlaceholdersRestoreReferences) {
  const fs::path path = save_with_external(make_model(), "weights.bin", folder_ / "weights.bin");
  Model mapped = load_model(path, {ExternalDataLoading::kMap});
  const std::string before = mapped.proto.SerializeAsString();
  {
    const io::ExternalPlaceholders placeholders(mapped.proto);
    const onnx::TensorProto& weight = mapped.proto.graph().initializer(0);
    EXPECT_FALSE(io::is_external(weight));
    EXPECT_FALSE(weight.raw_data().empty());
    onnx::ModelProto copy = mapped.proto;
    placeholders.restore(copy);
    EXPECT_EQ(copy.SerializeAsString(), before);
    placeholders.restore(mapped.proto);
  }
  EXPECT_EQ(mapped.proto.SerializeAsString(), before);
}

TEST_F(ModelIoTest, MissingFileIsIoError) { EXPECT_THROW(load_model(folder_ / "absent.onnx"), IoError); }

TEST_F(ModelIoTest, GarbageIsModelError) {
  std::ofstream(folder_ / "garbage.onnx") << "this is not a protobuf message \xff\xff\xff";
  EXPECT_THROW(load_model(folder_ / "garbage.onnx"), ModelError);
}

TEST(TensorData, OverflowingDimensionsRejected) {
  onnx::TensorProto tensor;
  tensor.set_name("huge");
  tensor.set_data_type(onnx::TensorProto::FLOAT);
  tensor.add_dims(int64_t{1} << 40);
  tensor.add_dims(int64_t{1} << 40);
  EXPECT_THROW(io::element_count(tensor), ModelError);
  tensor.set_dims(1, -3);
  EXPECT_THROW(io::element_count(tensor), ModelError);
}

TEST(TensorData, ShortRawDataRejected) {
  onnx::TensorProto tensor = io::make_float_tensor("w", {2, 2}, std::vector<float>{1, 2, 3, 4});
  tensor.mutable_raw_data()->resize(12);
  EXPECT_THROW(io::read_float_values(tensor), ModelError);
}

TEST(TensorData, RawFloat16ReadInBulk) {
  const std::vector<float> values = {1.0f, -2.0f, 0.5f, 65504.0f, -0.0f, 3.0e-5f, 7.0f, 0.25f, 1024.0f};
  const onnx::TensorProto tensor = io::make_float16_tensor("w", {3, 3}, values);
  const std::vector<float> read = io::read_float_values(tensor);
  ASSERT_EQ(read.size(), values.size());
  // 3e-5 is a float16 subnormal, stored as the nearest multiple of 2^-24.
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(read[i], values[i], 3.0e-8f) << "element " << i;
  EXPECT_TRUE(std::signbit(read[4]));
}

TEST(TensorData, FloatDataAndFloat16Read) {
  onnx::TensorProto tensor;
  tensor.set_data_type(onnx::TensorProto::FLOAT16);
  tensor.add_dims(2);
  tensor.add_int32_data(0x3C00);  // 1.0
  tensor.add_int32_data(0xC000);  // -2.0
  const std::vector<float> values = io::read_float_values(tensor);
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.0f);
}

}  // namespace
}  // namespace onnxquant
