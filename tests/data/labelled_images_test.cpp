// Reading labelled images: the digits CSV and IDX files, plain and gzip, and one-line errors
// naming the file and the place for what is wrong in them.
#include <seqtorch/data/labelled_images.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <fstream>

namespace seqtorch::data {
namespace {

void write(const std::string& path, const std::string& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return;
  }
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string digits_row(int first, int label) {
  std::string row = std::to_string(first);
  for (int i = 1; i < 64; ++i) row += "," + std::to_string(i % 17);
  return row + "," + std::to_string(label) + "\n";
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

TEST(LabelledImages, ReadsTheDigitsCsvPlainAndCompressed) {
  test::TempDir dir;
  const std::string text = digits_row(16, 3) + digits_row(0, 7) + "\n";
  write(dir.file("d.csv"), text);
  write(dir.file("d.csv.gz"), text, true);
  for (const char* name : {"d.csv", "d.csv.gz"}) {
    SCOPED_TRACE(name);
    auto d = read_digits_csv(dir.file(name));
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 1, 8, 8}));
    EXPECT_TRUE(torch::equal(d.labels, torch::tensor({3, 7}, torch::kLong)));
    EXPECT_FLOAT_EQ(d.images[0][0][0][0].item<float>(), 1.0f);   // 16 / 16
    EXPECT_FLOAT_EQ(d.images[1][0][0][1].item<float>(), 1.0f / 16);
    EXPECT_EQ(d.classes, 8);
  }
}

TEST(LabelledImages, DigitsCsvErrorsNameFileLineAndColumn) {
  test::TempDir dir;
  write(dir.file("short.csv"), digits_row(1, 2) + "1,2,3\n");
  EXPECT_TRUE(test::throws_with([&] { read_digits_csv(dir.file("short.csv")); }, {"short.csv:2: expected 65 values", "got 3"}));
  std::string bad = digits_row(1, 2);
  bad.replace(bad.find(",1,"), 3, ",x,");
  write(dir.file("bad.csv"), bad);
  EXPECT_TRUE(test::throws_with([&] { read_digits_csv(dir.file("bad.csv")); }, {"bad.csv:1:2: expected a grey level 0..16, got 'x'"}));
  write(dir.file("label.csv"), digits_row(1, 12));
  EXPECT_TRUE(test::throws_with([&] { read_digits_csv(dir.file("label.csv")); }, {"label.csv:1:65: expected a class 0..9, got '12'"}));
  write(dir.file("empty.csv"), "\n");
  EXPECT_TRUE(test::throws_with([&] { read_digits_csv(dir.file("empty.csv")); }, {"empty.csv: no images"}));
  EXPECT_TRUE(test::throws_with([&] { read_digits_csv(dir.file("none.csv")); }, {"none.csv: cannot open"}));
}

TEST(LabelledImages, ReadsIdxFilesAndRefusesBrokenOnes) {
  test::TempDir dir;
  std::string images = be32(2051) + be32(3) + be32(2) + be32(2);
  for (int i = 0; i < 12; ++i) images += static_cast<char>(i * 20);
  const std::string labels = be32(2049) + be32(3) + std::string("\x01\x00\x09", 3);
  write(dir.file("im.gz"), images, true);
  write(dir.file("lb"), labels);
  auto d = read_idx(dir.file("im.gz"), dir.file("lb"));
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 1, 2, 2}));
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({1, 0, 9}, torch::kLong)));
  EXPECT_FLOAT_EQ(d.images[2][0][1][1].item<float>(), 220.0f / 255.0f);
  EXPECT_EQ(d.classes, 10);

  write(dir.file("cut"), images.substr(0, images.size() - 1));
  EXPECT_TRUE(test::throws_with([&] { read_idx(dir.file("cut"), dir.file("lb")); }, {"cut: expected 3 images of 2x2", "truncated?"}));
  EXPECT_TRUE(test::throws_with([&] { read_idx(dir.file("lb"), dir.file("lb")); }, {"lb: not an IDX image file"}));
  write(dir.file("lb2"), be32(2049) + be32(2) + std::string("\x01\x00", 2));
  EXPECT_TRUE(test::throws_with([&] { read_idx(dir.file("im.gz"), dir.file("lb2")); }, {"lb2: 2 labels for 3 images"}));
}

TEST(LabelledImages, SplitAndSubsetAreSeededPartitions) {
  LabelledImages all{torch::arange(20, torch::kFloat32).view({20, 1, 1, 1}), torch::arange(20) % 2, 2};
  auto s = split_images(all, 0.25, 1);
  EXPECT_EQ(s.test.labels.size(0), 5);
  EXPECT_EQ(s.train.labels.size(0), 15);
  auto ids = torch::cat({s.train.images.flatten(), s.test.images.flatten()}).sort();
  EXPECT_TRUE(torch::equal(std::get<0>(ids), torch::arange(20, torch::kFloat32)));
  EXPECT_TRUE(torch::equal(split_images(all, 0.25, 1).test.images, s.test.images));
  EXPECT_FALSE(torch::equal(split_images(all, 0.25, 2).test.images, s.test.images));
  EXPECT_EQ(subset_images(all, 7, 3).labels.size(0), 7);
  EXPECT_EQ(subset_images(all, 0, 3).labels.size(0), 20);
  EXPECT_TRUE(test::throws_with([&] { split_images(all, 1.0, 1); }, {"test_fraction: expected in (0, 1)"}));
}

}  // namespace
}  // namespace seqtorch::data
