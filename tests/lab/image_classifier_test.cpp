// Training and testing the RCNN and its CNN twin through the trainer: a small task learnt,
// repeatable with its seed; the benchmark loader's messages.
#include <seqtorch/lab/image_classifier.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace seqtorch::lab {
namespace {

// 3 classes of 8x8 images: a horizontal bar, a vertical bar, a diagonal, in noise.
data::LabelledImages bars(int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto labels = torch::randint(0, 3, {n}, gen, torch::kLong);
  auto images = torch::rand({n, 1, 8, 8}, gen) * 0.4;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels[i].item<int64_t>(), at = 1 + i % 6;
    if (c == 0) images[i][0][at].add_(0.8);
    if (c == 1) images[i][0].select(1, at).add_(0.8);
    if (c == 2) images[i][0].diagonal().add_(0.8);
  }
  return {images.clamp(0, 1), labels, 3};
}

TEST(ImageClassifier, BothModelsLearnBarsAndRunsRepeatWithTheirSeed) {
  data::LabelledSplit split{bars(300, 1), bars(150, 2)};
  ImageTrainingOptions t;
  t.epochs = 8;
  t.batch_size = 32;
  t.lr = 5e-3;
  for (bool recurrent : {true, false}) {
    SCOPED_TRACE(recurrent ? "rcnn" : "cnn");
    auto model = nn::RCNNOptions(1, 3).channels(8).stem_kernel(3).recurrent(recurrent);
    const auto a = run_image_classifier(model, split, t);
    EXPECT_GT(a.test_accuracy, 0.9);
    EXPECT_GT(a.parameters, 0);
    EXPECT_EQ(run_image_classifier(model, split, t).test_accuracy, a.test_accuracy);
  }
}

TEST(ImageClassifier, ComparisonRunsBothModelsForEverySeed) {
  ImageBenchmark bench;
  bench.name = "bars";
  bench.split = {bars(64, 3), bars(32, 4)};
  bench.model = nn::RCNNOptions(1, 3).channels(4).stem_kernel(3);
  bench.training.epochs = 1;
  std::vector<std::string> heard;
  auto rows = compare_rcnn_and_cnn(bench, {5, 6}, [&](const std::string& model, uint64_t seed, const ImageRunResult&) {
    heard.push_back(model + std::to_string(seed));
  });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].model, "rcnn");
  EXPECT_EQ(rows[1].model, "cnn");
  EXPECT_EQ(rows[1].parameters - rows[0].parameters, 2 * 4);  // one bias of K per block
  EXPECT_EQ(rows[0].seeds, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(rows[1].accuracies.size(), 2u);
  EXPECT_EQ(heard, (std::vector<std::string>{"rcnn5", "rcnn6", "cnn5", "cnn6"}));
}

TEST(ImageClassifier, LoaderNamesTheFilesItLookedFor) {
  test::TempDir dir;
  EXPECT_TRUE(test::throws_with([&] { load_image_benchmark("digits", dir.path, 0, 0, 0); },
                                {"digits: none of", "digits.csv.gz", "lab_data.sh"}));
  EXPECT_TRUE(test::throws_with([&] { load_image_benchmark("cifar", dir.path, 0, 0, 0); },
                                {"expected digits or fashion-mnist, got 'cifar'"}));
}

TEST(ImageClassifier, ComparisonTableAndJsonCarryMeanAndSpread) {
  ImageComparisonRow row{"digits", "rcnn", 100, {1, 2, 3}, {0.9, 0.92, 0.94}, 1.5};
  auto json = nlohmann::json::parse(image_comparison_json({row}));
  EXPECT_NEAR(json[0]["mean"].get<double>(), 0.92, 1e-12);
  EXPECT_NEAR(json[0]["std"].get<double>(), 0.02, 1e-12);
  EXPECT_NE(image_comparison_table({row}).find("0.9200"), std::string::npos);
}

}  // namespace
}  // namespace seqtorch::lab
