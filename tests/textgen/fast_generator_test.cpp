// The batch-1 fast path equals the model: logits at every step within float32 rounding, and the
// same generated tokens (greedy and sampled, same seed) as decode::generate over CharStepModel.
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
      for (double temperature : {0.0, 1.0}) {
        decode::SamplingOptions o{temperature, temperature > 0 ? 5 : 0, 0.95};
        auto a = decode::generate(slow, {1, 2, 3}, 60, o, 11);
        auto b = fast.generate({1, 2, 3}, 60, o, 11);
        EXPECT_EQ(a, b) << "temperature " << temperature;
      }
    }
  }
  CharModel gru(CharModelOptions(vocab.size()).cell(nn::CellKind::gru).hidden_size(8), vocab);
  EXPECT_FALSE(FastGenerator::supports(gru));
}

}  // namespace
}  // namespace seqtorch::textgen
