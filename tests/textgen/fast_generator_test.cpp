// The batch-1 fast path equals the model: logits at every step within float32 rounding, the same
// greedy tokens as decode::generate over CharStepModel, and its own sampler draws from the
// distribution decode::filter_logits defines.
#include <seqtorch/textgen/fast_generator.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::textgen {
namespace {

TEST(FastGenerator, SameLogitsAndTokensAsTheModel) {
  auto vocab = data::Vocabulary::build(data::decode_utf8("abcdefghij klmnop.", "t"), data::Vocabulary::Unit::codepoint);
  for (int64_t layers : {1, 2}) {
    for (bool tied : {false, true}) {
      SCOPED_TRACE("layers " + std::to_string(layers) + (tied ? " tied" : ""));
      torch::manual_seed(4);
      CharModel m(CharModelOptions(vocab.size()).hidden_size(24).embedding_size(tied ? 24 : 10)
                      .num_layers(layers).tie_weights(tied), vocab);
      m->eval();
      ASSERT_TRUE(FastGenerator::supports(m));
      FastGenerator fast(m);
      torch::NoGradGuard no_grad;
      auto tokens = torch::randint(vocab.size(), {30}, torch::kLong);
      auto expected = m->forward(tokens.unsqueeze(1)).logits;  // [30, 1, V]
      for (int64_t t = 0; t < 30; ++t) {
        const auto& got = fast.step(tokens[t].item<int64_t>());
        EXPECT_TRUE(test::all_close(got, expected[t][0], 1e-5, "step " + std::to_string(t)));
      }
      CharStepModel slow(m);
      decode::SamplingOptions greedy{0.0, 0, 1.0};
      EXPECT_EQ(decode::generate(slow, {1, 2, 3}, 60, greedy, 11),
                fast.generate({1, 2, 3}, 60, greedy, 11));
      decode::SamplingOptions sampled{1.0, 5, 0.95};
      const auto once = fast.generate({1, 2, 3}, 60, sampled, 11);
      EXPECT_EQ(once, fast.generate({1, 2, 3}, 60, sampled, 11)) << "same seed, same text";
      EXPECT_NE(once, fast.generate({1, 2, 3}, 60, sampled, 12)) << "another seed, another text";
      // One sampler: the generic decoder draws the same text from the same seed (the logits
      // agree within 1e-5; a draw within that of a token boundary would differ).
      EXPECT_EQ(decode::generate(slow, {1, 2, 3}, 60, sampled, 11), once);
    }
  }
  CharModel gru(CharModelOptions(vocab.size()).cell(nn::CellKind::gru).hidden_size(8), vocab);
  EXPECT_FALSE(FastGenerator::supports(gru));
}

// The first sampled token, over many seeds, has the frequencies softmax(filter_logits(.)) gives:
// plain temperature, top-k and top-p.
TEST(FastGenerator, SamplerDrawsFromTheFilteredDistribution) {
  auto vocab = data::Vocabulary::build(data::decode_utf8("abcdefgh", "t"), data::Vocabulary::Unit::codepoint);
  torch::manual_seed(8);
  CharModel m(CharModelOptions(vocab.size()).hidden_size(16).embedding_size(8), vocab);
  {
    torch::NoGradGuard no_grad;
    m->head_weight.mul_(8.0);  // a peaked distribution, so that top-k and top-p cut something
  }
  m->eval();
  FastGenerator fast(m);
  const std::vector<int64_t> prime{1, 2};
  torch::NoGradGuard no_grad;
  fast.reset();
  torch::Tensor logits;
  for (int64_t t : prime) logits = fast.step(t).clone();
  const int n = 20000;
  for (decode::SamplingOptions o : {decode::SamplingOptions{1.0, 0, 1.0}, decode::SamplingOptions{0.7, 3, 1.0},
                                    decode::SamplingOptions{1.3, 0, 0.8}}) {
    SCOPED_TRACE("T " + std::to_string(o.temperature) + " k " + std::to_string(o.top_k) + " p " +
                 std::to_string(o.top_p));
    auto expected = torch::softmax(decode::filter_logits(logits.to(torch::kDouble).unsqueeze(0), o), -1)[0];
    std::vector<double> counts(vocab.size(), 0.0);
    for (int seed = 0; seed < n; ++seed) counts[fast.generate(prime, 1, o, seed)[0]] += 1.0 / n;
    for (int64_t v = 0; v < vocab.size(); ++v) {
      const double p = expected[v].item<double>();
      // 5 standard deviations of a frequency over n draws, at least 0.004.
      EXPECT_NEAR(counts[v], p, std::max(0.004, 5 * std::sqrt(p * (1 - p) / n))) << "token " << v;
      if (p == 0) {
        EXPECT_EQ(counts[v], 0.0) << "token " << v << " is outside the kept set";
      }
    }
  }
}

}  // namespace
}  // namespace seqtorch::textgen
