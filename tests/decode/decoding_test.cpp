// Decoding: top-k and top-p keep exactly the right sets, temperature 0 is argmax, the same seed
// gives the same tokens, and beam search finds the best sequence where greedy does not.
#include <seqtorch/decode/decoding.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqtorch::decode {
namespace {

std::vector<int64_t> kept(const torch::Tensor& filtered) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < filtered.size(-1); ++i)
    if (std::isfinite(filtered[0][i].item<double>())) out.push_back(i);
  return out;
}

TEST(Decoding, TopKAndTopPKeepExactlyTheRightSet) {
  // probabilities 0.5 0.05 0.25 0.15 0.05
  auto logits = torch::tensor({{0.5, 0.05, 0.25, 0.15, 0.05}}, torch::kDouble).log();
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 2, 1.0})), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 0, 0.5})), (std::vector<int64_t>{0}));        // 0.5 reaches 0.5
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 0, 0.6})), (std::vector<int64_t>{0, 2}));     // 0.75
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 0, 0.9})), (std::vector<int64_t>{0, 2, 3}));  // 0.9
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 0, 0.91})).size(), 4u);   // 0.95
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 0, 0.96})).size(), 5u);   // all
  EXPECT_EQ(kept(filter_logits(logits, {1.0, 2, 0.9})), (std::vector<int64_t>{0, 2}));     // both
  // Temperature divides the logits.
  EXPECT_TRUE(test::all_close(filter_logits(logits, {2.0, 0, 1.0}), logits / 2, 1e-12, "temperature"));
}

TEST(Decoding, TemperatureZeroIsArgmaxAndSeedsRepeat) {
  auto gen = at::detail::createCPUGenerator(1);
  auto lp = torch::log_softmax(torch::randn({4, 9}), -1);
  EXPECT_TRUE(torch::equal(next_tokens(lp, {0.0, 0, 1.0}, gen), lp.argmax(-1)));
  auto a = at::detail::createCPUGenerator(7), b = at::detail::createCPUGenerator(7);
  EXPECT_TRUE(torch::equal(next_tokens(lp, {1.0, 0, 1.0}, a), next_tokens(lp, {1.0, 0, 1.0}, b)));
  // With top-k 1 sampling is argmax too.
  EXPECT_TRUE(torch::equal(next_tokens(lp, {1.5, 1, 1.0}, a), lp.argmax(-1)));
  EXPECT_TRUE(test::throws_with([] { check({-1.0, 0, 1.0}); }, {"temperature", ">= 0", "-1"}));
  EXPECT_TRUE(test::throws_with([] { check({1.0, 0, 0.0}); }, {"top-p", "(0, 1]"}));
  EXPECT_TRUE(test::throws_with([] { check({1.0, 0, 1.5}); }, {"top-p", "1.5"}));
}

// A hand-made model over tokens {0, 1, 2}: the state remembers the last token.
//   start: P(0) = 0.6, P(1) = 0.4
//   after 0: P = (0.4, 0.3, 0.3)      after 1: P = (0.05, 0.05, 0.9)      after 2: uniform
// Greedy takes 0 then 0: 0.24. The best two-token sequence is 1, 2: 0.36.
class TableModel : public StepModel {
 public:
  StepResult step(const torch::Tensor& tokens, const nn::RecurrentState&) override {
    static const double table[3][3] = {{0.4, 0.3, 0.3}, {0.05, 0.05, 0.9}, {1.0 / 3, 1.0 / 3, 1.0 / 3}};
    auto lp = torch::empty({tokens.size(0), 3}, torch::kDouble);
    for (int64_t b = 0; b < tokens.size(0); ++b)
      for (int64_t v = 0; v < 3; ++v) lp[b][v] = std::log(table[tokens[b].item<int64_t>()][v]);
    return {lp, {tokens.to(torch::kDouble).view({1, -1, 1}), {}}};
  }
};

TEST(Decoding, BeamSearchFindsTheBestSequenceWhereGreedyDoesNot) {
  TableModel m;
  auto start = torch::tensor({{0.6, 0.4, 1e-12}}, torch::kDouble).log();
  nn::RecurrentState s{torch::zeros({1, 1, 1}, torch::kDouble), {}};
  BeamOptions greedy_like{1, 2, -1, 0.0};
  auto g = beam_search(m, start, s, greedy_like);
  EXPECT_EQ(g[0].tokens, (std::vector<int64_t>{0, 0}));
  EXPECT_NEAR(std::exp(g[0].log_prob), 0.24, 1e-9);
  BeamOptions wide{2, 2, -1, 0.0};
  auto b = beam_search(m, start, s, wide);
  EXPECT_EQ(b[0].tokens, (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(std::exp(b[0].log_prob), 0.36, 1e-9);
  // With token 2 as end-of-sequence, "1 2" ends early and still wins.
  BeamOptions eos{2, 5, 2, 1.0};
  auto e = beam_search(m, start, s, eos);
  EXPECT_EQ(e[0].tokens, (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace seqtorch::decode
