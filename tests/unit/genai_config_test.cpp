// genai_config.json: the models it names and the rewrite of shared_initializers entries.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "folder/genai_config.hpp"
#include "onnxquant/errors.hpp"

namespace onnxquant::folder {
namespace {

using Json = nlohmann::ordered_json;

std::vector<std::string> files(const std::vector<FolderModel>& models) {
  std::vector<std::string> result;
  for (const auto& model : models) result.push_back(model.file);
  return result;
}

TEST(GenaiConfigTest, ModelsInFileOrder) {
  const Json config = Json::parse(R"({"model": {
      "vision": {"filename": "vision.onnx", "config_filename": "processor_config.json"},
      "embedding": {"filename": "embedding.onnx"},
      "decoder": {"filename": "model.onnx", "inputs": {"input_ids": "input_ids"}}}})");
  const std::vector<FolderModel> models = find_models(config);
  EXPECT_EQ(files(models), (std::vector<std::string>{"vision.onnx", "embedding.onnx", "model.onnx"}));
  EXPECT_EQ(models[0].config_keys, std::vector<std::string>{"/model/vision/filename"});
}

TEST(GenaiConfigTest, PipelineArrayAndObjectForms) {
  const Json array_form = Json::parse(R"({"model": {"decoder": {"pipeline": [
      {"embeddings": {"filename": "embeddings.onnx"}}, {"context": {"filename": "context.onnx"}}]}}})");
  EXPECT_EQ(find_models(array_form)[1].config_keys,
            std::vector<std::string>{"/model/decoder/pipeline/1/context/filename"});
  const Json object_form = Json::parse(R"({"model": {"decoder": {"pipeline": {
      "embeddings": {"filename": "embeddings.onnx"}, "context": {"filename": "context.onnx"}}}}})");
  EXPECT_EQ(files(find_models(object_form)), (std::vector<std::string>{"embeddings.onnx", "context.onnx"}));
}

TEST(GenaiConfigTest, SameFileListedOnce) {
  const Json config = Json::parse(R"({"model": {
      "decoder": {"filename": "model.onnx"}, "embedding": {"filename": "./model.onnx"}, "speech": {"filename": ""}}})");
  const std::vector<FolderModel> models = find_models(config);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].config_keys,
            (std::vector<std::string>{"/model/decoder/filename", "/model/embedding/filename"}));
}

TEST(GenaiConfigTest, SharedInitializerNamesPerSection) {
  const Json config = Json::parse(R"({"model": {
      "decoder": {"filename": "model.onnx", "shared_initializers": [{"name": "embed"}, {"name": "lm_head"}]},
      "mtp": {"filename": "mtp.onnx", "shared_initializers": [{"name": "embed"}]}}})");
  const std::vector<FolderModel> models = find_models(config);
  EXPECT_EQ(models[0].shared_initializers, (std::vector<std::string>{"embed", "lm_head"}));
  EXPECT_EQ(models[1].shared_initializers, std::vector<std::string>{"embed"});
}

TEST(GenaiConfigTest, UnsafeNamesRejected) {
  for (const char* name : {"/abs/model.onnx", "../model.onnx", "sub/../../model.onnx", "sub\\\\model.onnx"}) {
    const Json config = Json::parse(fmt::format(R"({{"model": {{"decoder": {{"filename": "{}"}}}}}})", name));
    EXPECT_THROW(find_models(config), ModelError) << name;
  }
}

TEST(GenaiConfigTest, NoModelRejected) {
  EXPECT_THROW(find_models(Json::parse(R"({"model": {"decoder": {"head_size": 64}}})")), ModelError);
  EXPECT_THROW(find_models(Json::parse(R"({"model": {"decoder": {"filename": 3}}})")), ModelError);
}

TEST(GenaiConfigTest, SharedInitializersRewritten) {
  Json config = Json::parse(R"({"model": {
      "decoder": {"filename": "model.onnx", "shared_initializers": [
          {"name": "embed", "data_file": "model.onnx.data", "offset": "0", "length": "8", "data_type": 1,
           "shape": [2]}]},
      "mtp": {"filename": "mtp.onnx", "shared_initializers": [
          {"name": "embed", "data_file": "model.onnx.data", "offset": "0", "length": "8", "data_type": 1,
           "shape": [2]}]}}})");
  std::vector<std::string> preferred_files;
  const auto locate = [&](const std::string& name, const std::string& preferred) -> std::optional<TensorLocation> {
    preferred_files.push_back(preferred);
    if (name != "embed") return std::nullopt;
    return TensorLocation{"model.onnx.data", 128, 4096, 1, {4, 256}};
  };
  const std::vector<std::string> changed = update_shared_initializers(config, locate);
  EXPECT_EQ(changed, (std::vector<std::string>{"/model/decoder/shared_initializers/0",
                                               "/model/mtp/shared_initializers/0"}));
  EXPECT_EQ(preferred_files, (std::vector<std::string>{"model.onnx.data", "model.onnx.data"}));
  const Json& entry = config["model"]["mtp"]["shared_initializers"][0];
  EXPECT_EQ(entry["offset"], "128");
  EXPECT_EQ(entry["length"], "4096");
  EXPECT_EQ(entry["shape"], Json::array({4, 256}));
  // A second rewrite with the same locations changes nothing.
  EXPECT_TRUE(update_shared_initializers(config, locate).empty());
}

TEST(GenaiConfigTest, UnknownSharedInitializerRejected) {
  Json config = Json::parse(R"({"model": {"decoder": {"filename": "model.onnx",
      "shared_initializers": [{"name": "gone"}]}}})");
  const auto locate = [](const std::string&, const std::string&) -> std::optional<TensorLocation> {
    return std::nullopt;
  };
  EXPECT_THROW(update_shared_initializers(config, locate), ModelError);
}

}  // namespace
}  // namespace onnxquant::folder
