// textgen's model for a time budget (textgen/budget.h): the parameter count it reasons with is
// the model's, and the two limits (tokens / 20 and the training symbols) pick the model.
#include <seqtorch/textgen/budget.h>
#include <seqtorch/textgen/char_model.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::textgen {
namespace {

// A corpus of `n` training symbols over `symbols` distinct ones (a repeating pattern).
Corpus corpus_of(int64_t n, int32_t symbols) {
  std::vector<int32_t> points;
  for (int64_t i = 0; i < n + 1000; ++i) points.push_back('a' + static_cast<int32_t>((i * 7 + i / 13) % symbols));
  auto vocab = data::Vocabulary::build(points, data::Vocabulary::Unit::codepoint);
  const auto ids = vocab.encode(points);
  return {vocab, ids.narrow(0, 0, n), ids.narrow(0, n, 1000)};
}

int64_t count(torch::nn::Module& m) {
  int64_t p = 0;
  for (const auto& t : m.parameters()) p += t.numel();
  return p;
}

TEST(TextgenBudget, TheParameterCountIsTheModels) {
  const auto c = corpus_of(2000, 20);
  int64_t previous = 0;
  for (const auto& rung : budget_ladder()) {
    CharModel m(CharModelOptions(c.vocab.size()).embedding_size(64).hidden_size(rung.hidden_size)
                    .num_layers(rung.num_layers), c.vocab);
    const int64_t p = lstm_char_model_parameters(c.vocab.size(), rung.num_layers, rung.hidden_size);
    EXPECT_EQ(p, count(*m)) << rung.num_layers << "x" << rung.hidden_size;
    EXPECT_GT(p, previous);  // the ladder climbs
    previous = p;
  }
}

TEST(TextgenBudget, TheLargestModelBothLimitsAllow) {
  // The text's limit: 400,000 symbols allow 1x256 (about 350k parameters with 21 symbols) and
  // not 1x384; a budget of a day puts no limit on tokens. 1x384 fails without being probed.
  {
    const auto c = corpus_of(400000, 20);
    const auto b = choose_for_budget(c, 86400, torch::kCPU, 1);
    EXPECT_EQ(b.num_layers, 1);
    EXPECT_EQ(b.hidden_size, 256);
    ASSERT_EQ(b.probed.size(), 2u);
    for (const auto& p : b.probed) EXPECT_GT(p.tokens_per_s, 0);
    EXPECT_EQ(b.batch_size, 64);
    EXPECT_EQ(b.seq_len, 100);
    EXPECT_DOUBLE_EQ(b.lr, 4e-3);
    EXPECT_GT(b.probe_seconds, 0);
  }
  // The budget's limit: a millisecond trains too few tokens for any model: the smallest, and
  // nothing larger probed.
  {
    const auto c = corpus_of(400000, 20);
    const auto b = choose_for_budget(c, 1e-3, torch::kCPU, 1);
    EXPECT_EQ(b.hidden_size, 128);
    EXPECT_EQ(b.probed.size(), 1u);
    // The rule at the rate it measured: 1x128 trains more tokens per second than 1e-3 s x 20
    // tokens per parameter can pay for.
    EXPECT_LT(1e-3 * b.probed[0].tokens_per_s / 20, static_cast<double>(b.probed[0].parameters));
  }
  // A short text: fewer streams (as many as hold 101 symbols), the smallest model.
  {
    const auto c = corpus_of(3000, 20);
    const auto b = choose_for_budget(c, 300, torch::kCPU, 1);
    EXPECT_EQ(b.batch_size, 3000 / 101);
    EXPECT_EQ(b.hidden_size, 128);
    EXPECT_EQ(b.probed.size(), 1u);
  }
}

}  // namespace
}  // namespace seqtorch::textgen
