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
  Sampler gen(1);
  auto lp = torch::log_softmax(torch::randn({4, 9}), -1);
  EXPECT_TRUE(torch::equal(next_tokens(lp, {0.0, 0, 1.0}, gen), lp.argmax(-1)));
  Sampler a(7), b(7);
  EXPECT_TRUE(torch::equal(next_tokens(lp, {1.0, 0, 1.0}, a), next_tokens(lp, {1.0, 0, 1.0}, b)));
  // With top-k 1 sampling is argmax too.
  EXPECT_TRUE(torch::equal(next_tokens(lp, {1.5, 1, 1.0}, a), lp.argmax(-1)));
  // The draws follow the distribution: 40,000 draws from (0.5, 0.3, 0.2) at temperature 1, and
  // top-k 2 renormalises to (0.625, 0.375).
  auto p = torch::tensor({0.5, 0.3, 0.2}, torch::kDouble).log();
  Sampler s(3);
  std::vector<int64_t> counts(3, 0), top2(3, 0);
  for (int i = 0; i < 40000; ++i) {
    ++counts[s.draw(p.data_ptr<double>(), 3, {1.0, 0, 1.0})];
    ++top2[s.draw(p.data_ptr<double>(), 3, {1.0, 2, 1.0})];
  }
  EXPECT_NEAR(counts[0] / 40000.0, 0.5, 0.01);
  EXPECT_NEAR(counts[2] / 40000.0, 0.2, 0.01);
  EXPECT_EQ(top2[2], 0);
  EXPECT_NEAR(top2[0] / 40000.0, 0.625, 0.01);
  // Logits shifted by a constant (log-probabilities) draw the same tokens.
  auto shifted = (p + 3.25).to(torch::kFloat);
  Sampler c(11), d(11);
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(c.draw(p.data_ptr<double>(), 3, {0.8, 0, 1.0}), d.draw(shifted.data_ptr<float>(), 3, {0.8, 0, 1.0}));
  EXPECT_TRUE(test::throws_with([] { check({-1.0, 0, 1.0}); }, {"temperature", ">= 0", "-1"}));
  EXPECT_TRUE(test::throws_with([] { check({1.0, 0, 0.0}); }, {"top-p", "(0, 1]"}));
  EXPECT_TRUE(test::throws_with([] { check({1.0, 0, 1.5}); }, {"top-p", "1.5"}));
}

// A hand-made model over tokens {0, 1, 2}: the state remembers the last token.
//   start: P(0) = 0.6, P(1) = 0.4
//   after 0: P = (0.4, 0.3, 0.3)      after 1: P = (0.05, 0.05, 0.9)      after 2: uniform
// Greedy takes 0 then 0: 0.24. The best two-token sequence is 1, 2: 0.36.
// Its "attention" over a source of 2 steps is (t, 1 - t) / 1 for last token t in {0, 1}, and
// (0.5, 0.5) after 2, so the weights of each hypothesis can be checked.
class TableModel : public StepModel {
 public:
  int64_t steps = 0, rows = 0;
  StepResult step(const torch::Tensor& tokens, const StepState& state) override {
    static const double table[3][3] = {{0.4, 0.3, 0.3}, {0.05, 0.05, 0.9}, {1.0 / 3, 1.0 / 3, 1.0 / 3}};
    EXPECT_EQ(state.tensors.size(), 1u);
    ++steps;
    rows = tokens.size(0);
    auto lp = torch::empty({tokens.size(0), 3}, torch::kDouble);
    auto att = torch::empty({tokens.size(0), 2}, torch::kDouble);
    for (int64_t b = 0; b < tokens.size(0); ++b) {
      const int64_t t = tokens[b].item<int64_t>();
      for (int64_t v = 0; v < 3; ++v) lp[b][v] = std::log(table[t][v]);
      att[b][0] = t == 2 ? 0.5 : double(t);
      att[b][1] = t == 2 ? 0.5 : 1.0 - t;
    }
    StepResult r{lp, {}, att};
    r.state.add(tokens.to(torch::kDouble).view({1, -1, 1}), 1);
    return r;
  }
};

StepResult table_start(int64_t inputs) {
  StepResult s;
  s.log_probs = torch::tensor({{0.6, 0.4, 1e-12}}, torch::kDouble).log().expand({inputs, 3}).contiguous();
  s.state.add(torch::zeros({1, inputs, 1}, torch::kDouble), 1);
  s.attention = torch::full({inputs, 2}, 0.25, torch::kDouble);
  return s;
}

TEST(Decoding, BeamSearchFindsTheBestSequenceWhereGreedyDoesNot) {
  TableModel m;
  SearchOptions greedy;
  greedy.keep_attention = true;
  auto g = search(m, table_start(1), {2}, greedy);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0][0].tokens, (std::vector<int64_t>{0, 0}));
  EXPECT_NEAR(std::exp(g[0][0].log_prob), 0.24, 1e-9);
  // The weights of token 1 come with the start, those of token 2 from the step that read 0.
  EXPECT_TRUE(test::all_close(g[0][0].attention, torch::tensor({{0.25, 0.25}, {0.0, 1.0}}), 1e-6, "greedy attention"));
  SearchOptions wide;
  wide.beam = 2;
  wide.n_best = 2;
  wide.keep_attention = true;
  auto b = search(m, table_start(1), {2}, wide);
  ASSERT_EQ(b[0].size(), 2u);
  EXPECT_EQ(b[0][0].tokens, (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(std::exp(b[0][0].log_prob), 0.36, 1e-9);
  EXPECT_EQ(b[0][1].tokens, (std::vector<int64_t>{0, 0}));  // 0.24, next best
  EXPECT_TRUE(test::all_close(b[0][0].attention, torch::tensor({{0.25, 0.25}, {1.0, 0.0}}), 1e-6, "beam attention"));
  // With token 2 as end-of-sequence, "1 2" ends early and still wins; the search stops once two
  // hypotheses ended instead of running to the maximum length.
  SearchOptions eos = wide;
  eos.eos = 2;
  eos.length_penalty = 1.0;
  m.steps = 0;
  auto e = search(m, table_start(1), {50}, eos);
  EXPECT_EQ(e[0][0].tokens, (std::vector<int64_t>{1, 2}));
  EXPECT_LT(m.steps, 10);
  EXPECT_NEAR(e[0][0].score, std::log(0.36) / std::pow(7.0 / 6.0, 1.0), 1e-9);  // GNMT penalty
}

TEST(Decoding, BatchedBeamSearchEqualsOneInputAtATime) {
  // Three inputs whose first distributions differ; each decoded alone and all together as one
  // batch of 3 x 3 rows give the same hypotheses.
  TableModel m;
  StepResult start = table_start(3);
  start.log_probs = torch::tensor({{0.6, 0.4, 1e-12}, {0.2, 0.7, 0.1}, {0.1, 0.1, 0.8}}, torch::kDouble).log();
  SearchOptions o;
  o.beam = 3;
  o.n_best = 3;
  o.eos = 2;
  o.length_penalty = 0.6;
  auto together = search(m, start, {4, 3, 5}, o);
  EXPECT_EQ(m.rows, 9);
  const std::vector<int64_t> lengths{4, 3, 5};
  for (int64_t b = 0; b < 3; ++b) {
    StepResult one = table_start(1);
    one.log_probs = start.log_probs.narrow(0, b, 1);
    auto alone = search(m, one, {lengths[b]}, o);
    ASSERT_EQ(alone[0].size(), together[b].size()) << "input " << b;
    for (size_t h = 0; h < alone[0].size(); ++h) {
      EXPECT_EQ(alone[0][h].tokens, together[b][h].tokens) << "input " << b << " hypothesis " << h;
      EXPECT_NEAR(alone[0][h].score, together[b][h].score, 1e-12);
      EXPECT_LE(static_cast<int64_t>(together[b][h].tokens.size()), lengths[b]);
    }
  }
  EXPECT_TRUE(test::throws_with([&] { search(m, start, {4}, SearchOptions{0}); }, {"beam", ">= 1"}));
  SearchOptions too_many;
  too_many.beam = 2;
  too_many.n_best = 3;
  EXPECT_TRUE(test::throws_with([&] { search(m, start, {4}, too_many); }, {"n-best", "[1, beam = 2]"}));
}

}  // namespace
}  // namespace seqtorch::decode
