// The §8.1 alignment model: the score (mean over words of the best region's cosine), the
// bidirectional ranking loss by hand, learning to rank a toy set, Recall@K, and a captioner
// starting from the aligned encoder.
#include <seqtorch/caption/alignment.h>
#include <seqtorch/caption/describer.h>
#include <seqtorch/nn/alignment.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::caption {
namespace {

TEST(Alignment, ScoreIsTheMeanOverWordsOfTheBestRegion) {
  // Image 0: regions e0 and e1; image 1: region e2 (twice). Sentence 0: words e0, e1 (length 2);
  // sentence 1: word e2 then padding (length 1).
  auto eye = torch::eye(3);
  auto regions = torch::stack({torch::stack({eye[0], eye[1]}), torch::stack({eye[2], eye[2]})});  // [2, 2, 3]
  auto words = torch::zeros({2, 2, 3});
  words[0][0] = eye[0];
  words[1][0] = eye[1];
  words[0][1] = eye[2];
  auto lengths = torch::tensor({2, 1}, torch::kLong);
  auto s = nn::AlignerImpl::scores(regions, words, lengths);
  EXPECT_TRUE(test::all_close(s, torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}}), 1e-6, "scores"));
  words[1][0] = eye[2];  // sentence 0 now: e0 (image 0 has it), e2 (image 1 has it)
  s = nn::AlignerImpl::scores(regions, words, lengths);
  EXPECT_NEAR(s[0][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(s[1][0].item<double>(), 0.5, 1e-6);
}

TEST(Alignment, RankingLossByHand) {
  auto s = torch::tensor({{0.9, 0.5}, {0.8, 0.1}}, torch::kDouble);
  // Image 0: [0.2 - 0.9 + 0.5]_+ = 0; image 1: [0.2 - 0.1 + 0.8]_+ = 0.9.
  // Sentence 0: [0.2 - 0.9 + 0.8]_+ = 0.1; sentence 1: [0.2 - 0.1 + 0.5]_+ = 0.6. Mean over 2: 0.8.
  EXPECT_NEAR(nn::AlignerImpl::ranking_loss(s, 0.2).item<double>(), 0.8, 1e-12);
  // Pairs marked as true too are not negatives.
  auto same = torch::tensor({{false, true}, {true, false}});
  EXPECT_NEAR(nn::AlignerImpl::ranking_loss(s, 0.2, same).item<double>(), 0.0, 1e-12);
}

TEST(Alignment, LearnsToRankAToySetAndReportsRecall) {
  torch::manual_seed(7);
  ModelSpec spec;
  spec.captioner.image_size(16).channels(16).stages(2).embedding_size(8).hidden_size(16).decoder(nn::CaptionDecoder::align);
  const std::vector<std::vector<std::string>> captions = {{"red circle", "a red circle"}, {"blue square", "a blue square"},
                                                          {"green triangle"}, {"white circle", "circle in white"}};
  std::vector<std::string> all;
  for (const auto& c : captions) all.insert(all.end(), c.begin(), c.end());
  CaptionModel m(spec, build_vocabulary(all, 1, 0));
  ASSERT_TRUE(m->aligner);
  ASSERT_FALSE(m->captioner);
  auto images = torch::randint(0, 256, {4, 3, 16, 16}, torch::kLong).to(torch::kUInt8);
  AlignmentOptions o;
  o.batch_size = 4;
  AlignmentTask task(m, images, captions, images, captions, o, torch::kCPU);
  auto opt = torch::optim::Adam(m->parameters(), torch::optim::AdamOptions(5e-3));
  m->train();
  for (int64_t step = 0; step < 120; ++step) {
    task.start_epoch(step);
    opt.zero_grad();
    task.train_loss(step, 0).loss.backward();
    opt.step();
  }
  m->eval();
  auto r = retrieval_recall(m, images, captions, torch::kCPU);
  EXPECT_EQ(r.at("captions"), 7);
  EXPECT_DOUBLE_EQ(r.at("i2t_r1"), 100.0);
  EXPECT_DOUBLE_EQ(r.at("t2i_r1"), 100.0);
  EXPECT_DOUBLE_EQ(r.at("rsum"), 600.0);
  // A captioner starting from the aligned encoder gets its weights and, with the same
  // vocabulary and widths, its word embedding.
  ModelSpec cs = spec;
  cs.captioner.decoder(nn::CaptionDecoder::attend);
  CaptionModel c(cs, m->vocab);
  const auto copied = c->initialise_from(*m);
  EXPECT_EQ(copied, (std::vector<std::string>{"encoder", "embedding"}));
  EXPECT_TRUE(torch::equal(c->captioner->encoder->stem->weight, m->aligner->encoder->stem->weight));
  EXPECT_TRUE(torch::equal(c->captioner->encoder->stem_bn->running_mean, m->aligner->encoder->stem_bn->running_mean));
  ModelSpec other = cs;
  other.captioner.channels(32);
  CaptionModel wide(other, m->vocab);
  EXPECT_THROW(wide->initialise_from(*m), c10::Error);
  // The alignment model neither captions nor exports.
  EXPECT_THROW(describe(m, images, DescribeOptions(), torch::kCPU), c10::Error);
}

}  // namespace
}  // namespace seqtorch::caption
