// The batch-1 fast path equals the model: logits at every step within float32 rounding, the same
// greedy tokens as decode::generate over CharStepModel, and its own sampler draws from the
// distribution decode::filter_logits defines.
#include <seqtorch/textgen/fast_generator.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <cmath>

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

// Reduced-precision weights: the logits at every step are those of the model whose weights
// round_weights rounded the same way (odd and even widths: bf16 pairs with a padded row; several
// threads: the split on pair boundaries), the rounding is what it says (bf16: 8 significant
// bits; int8: per-row scale, within half a step), and bits_per_token is the model's.
TEST(FastGenerator, ReducedPrecisionWeightsAreTheRoundedModels) {
  auto vocab = data::Vocabulary::build(data::decode_utf8("abcdefghij klmnop.", "t"), data::Vocabulary::Unit::codepoint);
  const auto w = torch::randn({6, 9});
  const auto b16 = rounded_weights(w, WeightFormat::bf16);
  EXPECT_LE(((b16 - w).abs() / w.abs()).max().item<double>(), 1.0 / 256);
  const auto q = rounded_weights(w, WeightFormat::int8);
  const auto step = w.abs().amax(1, true) / 127;
  EXPECT_LE(((q - w).abs() - step / 2).max().item<double>(), 1e-6);
  EXPECT_TRUE(test::all_close((q / step).round(), q / step, 1e-4, "int8 multiples of the row's step"));
  EXPECT_EQ(parse_weight_format("bf16"), WeightFormat::bf16);
  EXPECT_TRUE(test::throws_with([] { parse_weight_format("fp8"); }, {"expected f32, bf16 or int8, got 'fp8'"}));
  const int threads = at::get_num_threads();
  for (WeightFormat format : {WeightFormat::bf16, WeightFormat::int8}) {
    for (int64_t hidden : {23, 256}) {
      for (bool tied : {false, true}) {
        SCOPED_TRACE(to_string(format) + " hidden " + std::to_string(hidden) + (tied ? " tied" : ""));
        torch::manual_seed(6);
        CharModel m(CharModelOptions(vocab.size()).hidden_size(hidden).embedding_size(tied ? hidden : 9)
                        .num_layers(2).tie_weights(tied), vocab);
        m->eval();
        FastGenerator fast(m, format), fast_threads(m, format);
        EXPECT_LT(fast.weight_bytes(), FastGenerator(m).weight_bytes() / (format == WeightFormat::int8 ? 3 : 1.9));
        round_weights(m, format);
        torch::NoGradGuard no_grad;
        auto tokens = torch::randint(vocab.size(), {20}, torch::kLong);
        auto expected = m->forward(tokens.unsqueeze(1)).logits;
        for (int64_t t = 0; t < 20; ++t) {
          at::set_num_threads(1);
          const auto got = fast.step(tokens[t].item<int64_t>()).clone();
          EXPECT_TRUE(test::all_close(got, expected[t][0], 1e-5, "step " + std::to_string(t)));
          // hidden 256: the [9 + 256 (odd), 1024] and [512, 1024] products are split over threads
          at::set_num_threads(2);
          EXPECT_TRUE(test::all_close(fast_threads.step(tokens[t].item<int64_t>()), got, 1e-5, "threads"));
        }
        at::set_num_threads(threads);
        const std::vector<int64_t> ids(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + 20);
        const auto lp = torch::log_softmax(expected.squeeze(1).to(torch::kDouble), 1);
        const double nats = -lp.narrow(0, 0, 19).gather(1, tokens.narrow(0, 1, 19).unsqueeze(1)).mean().item<double>();
        EXPECT_NEAR(fast.bits_per_token(ids), nats / std::log(2.0), 1e-5);
      }
    }
  }
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
