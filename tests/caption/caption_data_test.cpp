// seqtorch-caption's data: images (PNG, JPEG, grey, truncated, not an image), resizing, COCO and
// Karpathy JSON with their errors, caption words, the built-in scenes, and the caption metrics
// (BLEU-n and CIDEr-D on hand-computed cases).
#include <seqtorch/data/coco.h>
#include <seqtorch/data/images.h>
#include <seqtorch/metrics/captioning.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <iterator>

namespace seqtorch::data {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(CaptionImages, PngRoundTripsExactlyAndJpegClosely) {
  test::TempDir dir;
  torch::manual_seed(1);
  auto image = torch::randint(0, 256, {3, 20, 30}, torch::kLong).to(torch::kUInt8);
  write_image(dir.file("a.png"), image);
  EXPECT_TRUE(torch::equal(read_image(dir.file("a.png")), image));
  auto smooth = torch::linspace(0, 255, 30).round().to(torch::kUInt8).view({1, 1, 30}).expand({3, 20, 30}).contiguous();
  write_image(dir.file("b.jpg"), smooth);
  auto back = read_image(dir.file("b.jpg"));
  ASSERT_EQ(back.sizes(), smooth.sizes());
  EXPECT_LT((back.to(torch::kInt) - smooth.to(torch::kInt)).abs().to(torch::kFloat).mean().item<double>(), 3.0);
}

TEST(CaptionImages, GreyBecomesThreeEqualChannels) {
  test::TempDir dir;
  auto grey = torch::arange(0, 12 * 10).remainder(256).to(torch::kUInt8).view({12, 10});
  write_image(dir.file("g.png"), grey);
  auto back = read_image(dir.file("g.png"));
  ASSERT_EQ(back.sizes(), (std::vector<int64_t>{3, 12, 10}));
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(torch::equal(back[c], grey));
}

TEST(CaptionImages, BadFilesFailNamingTheFile) {
  test::TempDir dir;
  EXPECT_TRUE(test::throws_with([&] { read_image(dir.file("missing.png")); }, {"missing.png: cannot be read"}));
  util::write_file_atomically(dir.file("text.png"), "this is not an image");
  EXPECT_TRUE(test::throws_with([&] { read_image(dir.file("text.png")); }, {"text.png: not a readable PNG or JPEG image"}));
  write_image(dir.file("full.png"), torch::randint(0, 256, {3, 40, 40}, torch::kLong).to(torch::kUInt8));
  const auto bytes = read_bytes(dir.file("full.png"));
  util::write_file_atomically(dir.file("cut.png"), bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(test::throws_with([&] { read_image(dir.file("cut.png")); }, {"cut.png: not a readable PNG or JPEG image"}));
  util::write_file_atomically(dir.file("empty.jpg"), "");
  EXPECT_TRUE(test::throws_with([&] { read_image(dir.file("empty.jpg")); }, {"empty.jpg"}));
}

TEST(CaptionImages, ResizeAveragesWhenShrinkingAndKeepsConstants) {
  auto x = torch::arange(0, 16).to(torch::kUInt8).view({1, 4, 4}).expand({3, 4, 4}).contiguous();
  auto small = resize_image(x, 2);
  // 2x2 blocks: (0+1+4+5)/4 = 2.5 -> 3 (half up); (2+3+6+7)/4 = 4.5 -> 5.
  EXPECT_EQ(small[0][0][0].item<int>(), 3);
  EXPECT_EQ(small[0][0][1].item<int>(), 5);
  auto constant = torch::full({3, 50, 70}, 77, torch::kUInt8);
  EXPECT_TRUE(torch::equal(resize_image(constant, 32), torch::full({3, 32, 32}, 77, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(resize_image(constant, 96), torch::full({3, 96, 96}, 77, torch::kUInt8)));
  auto batch = resize_image(torch::stack({constant, constant}), 16);
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
}

TEST(CaptionJson, ReadsCocoAndKarpathy) {
  const std::string coco = R"({"images": [{"id": 7, "file_name": "a.png"}, {"id": 9, "file_name": "b.jpg"},
      {"id": 11, "file_name": "uncaptioned.png"}],
    "annotations": [{"image_id": 9, "caption": "A dog."}, {"image_id": 7, "caption": "a cat"},
      {"image_id": 9, "caption": "Two dogs"}]})";
  auto d = parse_caption_json(coco, "c.json");
  ASSERT_EQ(d.images.size(), 2u);
  EXPECT_EQ(d.images[0].file, "a.png");
  EXPECT_EQ(d.images[1].captions, (std::vector<std::string>{"A dog.", "Two dogs"}));
  EXPECT_EQ(d.caption_count(), 3u);
  const std::string karpathy = R"({"images": [
      {"filepath": "val2014", "filename": "x.jpg", "cocoid": 5, "split": "test", "sentences": [{"raw": "a man"}]},
      {"filepath": "train2014", "filename": "y.jpg", "cocoid": 6, "split": "restval", "sentences": [{"raw": "a boat"}, {"raw": "boats"}]}]})";
  auto test_split = parse_caption_json(karpathy, "k.json", "test");
  ASSERT_EQ(test_split.images.size(), 1u);
  EXPECT_EQ(test_split.images[0].file, "val2014/x.jpg");
  EXPECT_EQ(test_split.images[0].id, 5);
  auto train_split = parse_caption_json(karpathy, "k.json", "train");
  ASSERT_EQ(train_split.images.size(), 1u);
  EXPECT_EQ(train_split.images[0].captions.size(), 2u);
}

TEST(CaptionJson, ErrorsNameTheFileAndWhatIsWrong) {
  auto err = [](const std::string& text, const std::string& part) {
    return test::throws_with([&] { parse_caption_json(text, "bad.json"); }, {part});
  };
  EXPECT_TRUE(err("{not json", "bad.json: invalid JSON"));
  EXPECT_TRUE(err(R"({"images": []})", "bad.json: not COCO captions JSON: the top level has no 'annotations'"));
  EXPECT_TRUE(err(R"({"annotations": []})", "has no 'images'"));
  EXPECT_TRUE(err(R"({"images": [{"id": 1}], "annotations": []})", "images[0] has no 'file_name'"));
  EXPECT_TRUE(err(R"({"images": [{"id": "x", "file_name": "a"}], "annotations": []})", "'id' of images[0] is not an integer"));
  EXPECT_TRUE(err(R"({"images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 2, "caption": "x"}]})", "annotations[0] refers to image id 2, which 'images' does not list"));
  EXPECT_TRUE(err(R"({"images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "caption": " . "}]})", "annotations[0] has an empty caption"));
  EXPECT_TRUE(err(R"({"images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1}]})", "annotations[0] has no 'caption'"));
  EXPECT_TRUE(err(R"({"images": [{"id": 1, "file_name": "a"}, {"id": 1, "file_name": "b"}], "annotations": []})", "image id 1 appears twice"));
  EXPECT_TRUE(err(R"({"images": [{"id": 1, "file_name": "a"}], "annotations": []})", "no captioned image"));
}

TEST(CaptionJson, WordsAreLowerCasedWithoutPunctuation) {
  EXPECT_EQ(caption_words("A red ball, on GRASS.  It's 2 balls!"),
            (std::vector<std::string>{"a", "red", "ball", "on", "grass", "it's", "2", "balls"}));
  EXPECT_TRUE(caption_words(" ... ' ").empty());
}

TEST(CaptionScenes, WrittenScenesReadBackWithObjectsAndImages) {
  test::TempDir dir;
  EXPECT_EQ(write_scenes(dir.path, 20, 32, 5), 20);
  auto all = read_caption_json(dir.file("captions_all.json"));
  ASSERT_EQ(all.images.size(), 20u);
  EXPECT_EQ(read_caption_json(dir.file("captions_train.json")).images.size(), 16u);
  EXPECT_EQ(read_caption_json(dir.file("captions_test.json")).images.size(), 2u);
  check_image_files(all, dir.path, "captions_all.json");
  for (const auto& image : all.images) {
    EXPECT_EQ(image.captions.size(), 5u);
    ASSERT_FALSE(image.objects.empty());
    // The caption names the first object's colour and shape.
    EXPECT_NE(image.captions[0].find(image.objects[0].color + " "), std::string::npos) << image.captions[0];
    auto pixels = read_image(image_path(dir.path, image));
    EXPECT_EQ(pixels.sizes(), (std::vector<int64_t>{3, 32, 32}));
  }
  // Holding out images: disjoint, all kept, at most max_held_out, the same for the same seed.
  auto [train, held] = hold_out(all, 0.2, 3, 9);
  EXPECT_EQ(held.images.size(), 3u);
  EXPECT_EQ(train.images.size(), 17u);
  for (const auto& h : held.images)
    for (const auto& t : train.images) EXPECT_NE(h.id, t.id);
  EXPECT_EQ(hold_out(all, 0.2, 3, 9).second.images[0].id, held.images[0].id);
  // The same seed writes the same data.
  EXPECT_EQ(generate_scenes(20, 32, 5).images[3].captions, all.images[3].captions);
  // Reading many images on worker threads equals reading them one by one.
  std::vector<std::string> paths;
  for (const auto& image : all.images) paths.push_back(image_path(dir.path, image));
  auto cache = read_images(paths, 24, 2);
  for (size_t i = 0; i < paths.size(); i += 7) EXPECT_TRUE(torch::equal(cache[static_cast<int64_t>(i)], resize_image(read_image(paths[i]), 24)));
  paths.push_back(dir.file("nope.png"));
  EXPECT_TRUE(test::throws_with([&] { read_images(paths, 24, 2); }, {"nope.png: cannot be read"}));
}

TEST(CaptionMetrics, BleuOnAHandComputedCase) {
  // Hypothesis "a b c d" against "a b x y": p1 = 2/4, p2 = 1/3, p3 = 0, equal lengths (BP 1).
  auto s = metrics::score_captions({"a b c d"}, {{"a b x y"}});
  EXPECT_NEAR(s.bleu[0], 0.5, 1e-9);
  EXPECT_NEAR(s.bleu[1], std::sqrt(0.5 / 3.0), 1e-9);
  EXPECT_LT(s.bleu[2], 1e-4);
  // Clipping and the closest reference length: "the the the" vs "the cat" (length 2) and
  // "the cat sat on" (length 4): closest is 2 (shorter wins the tie... 3 is 1 away from both).
  auto t = metrics::score_captions({"the the the"}, {{"the cat", "the cat sat on"}});
  EXPECT_NEAR(t.bleu[0], 1.0 / 3.0, 1e-9);  // BP = 1 since 3 > 2
  auto perfect = metrics::score_captions({"a man rides a horse"}, {{"a man rides a horse", "someone on a horse"}});
  for (double b : perfect.bleu) EXPECT_NEAR(b, 1.0, 1e-6);
  // Brevity: "a man" against "a man rides a horse": BP = exp(1 - 5/2).
  auto brief = metrics::score_captions({"a man"}, {{"a man rides a horse"}});
  EXPECT_NEAR(brief.bleu[0], std::exp(1 - 5.0 / 2.0), 1e-6);
}

TEST(CaptionMetrics, CiderDOnAHandComputedCase) {
  // Two images with disjoint words: every n-gram has document frequency 1, weight log 2, so an
  // exact caption has cosine 1 at every n and no length penalty (10), a disjoint one 0.
  auto s = metrics::score_captions({"red circle on the left", "blue square"},
                                   {{"red circle on the left"}, {"a green triangle"}});
  EXPECT_NEAR(s.cider, 5.0, 1e-9);
  // n-grams in every image's references weigh nothing: "a" adds nothing, "x" and "a x" match
  // (cosine 1 for n = 1, 2; no 3- or 4-grams), so image 1 scores 10 * (1 + 1 + 0 + 0) / 4;
  // image 2's "y" and "a y" are not in its references: 0.
  auto t = metrics::score_captions({"a x", "a y"}, {{"a x"}, {"a z"}});
  EXPECT_NEAR(t.cider, (10.0 * 0.5 + 0.0) / 2.0, 1e-9);
  // The Gaussian length penalty: a longer exact-prefix caption scores less.
  auto longer = metrics::score_captions({"red circle on the left side of it", "blue square"},
                                        {{"red circle on the left"}, {"a green triangle"}});
  EXPECT_LT(longer.cider, s.cider);
}

}  // namespace
}  // namespace seqtorch::data
