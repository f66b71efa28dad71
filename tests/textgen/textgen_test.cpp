// The character language model: state carried across chunks, a tiny corpus learned to near-zero
// loss, greedy generation reproducing it, scoring.
#include <seqtorch/textgen/stream_task.h>
#include <seqtorch/train/optimizer.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqtorch::textgen {
namespace {

struct Corpus {
  data::Vocabulary vocab;
  torch::Tensor ids;
};

Corpus corpus(const std::string& text) {
  auto cps = data::decode_utf8(text, "corpus");
  auto vocab = data::Vocabulary::build(cps, data::Vocabulary::Unit::codepoint);
  return {vocab, vocab.encode(cps)};
}

TEST(StreamTask, StateCarriedAcrossChunksEqualsOneLongRun) {
  auto c = corpus(std::string(400, 'a') + "the quick brown fox jumps over the lazy dog");
  torch::manual_seed(1);
  CharModel m(CharModelOptions(c.vocab.size()).hidden_size(16).embedding_size(8).num_layers(2), c.vocab);
  StreamTask task(m, c.ids, c.ids.narrow(0, 0, 50), /*batch=*/4, /*seq_len=*/7, torch::kCPU);
  task.start_epoch(0);
  auto data = data::batchify(c.ids, 4);  // [4, n]
  std::vector<torch::Tensor> chunked;
  for (int64_t i = 0; i < 3; ++i) {
    task.train_loss(0, i);
    EXPECT_FALSE(task.state().h.requires_grad()) << "the carried state is detached";
    chunked.push_back(task.state().h);
  }
  torch::NoGradGuard no_grad;
  auto full = m->forward(data.narrow(1, 0, 21).t());
  EXPECT_TRUE(test::all_close(chunked.back(), full.state.h, 1e-6, "state after 3 chunks"));
  task.start_epoch(1);
  EXPECT_FALSE(task.state().h.defined()) << "a new epoch starts the streams afresh";
}

TEST(CharModel, LearnsATinyCorpusToNearZeroLossAndGreedyRepeatsIt) {
  const std::string text = "hello world, hello seqtorch. ";
  std::string repeated;
  for (int i = 0; i < 60; ++i) repeated += text;
  auto c = corpus(repeated);
  torch::manual_seed(2);
  CharModel m(CharModelOptions(c.vocab.size()).hidden_size(48).embedding_size(16).num_layers(1), c.vocab);
  StreamTask task(m, c.ids, c.ids, 8, 32, torch::kCPU);
  train::OptimizerOptions oo;
  oo.lr = 1e-2;
  auto opt = train::make_optimizer(m->parameters(), oo);
  train::LrSchedule sched(oo.lr, train::ScheduleOptions{});
  train::TrainerOptions to;
  to.epochs = 40;
  to.quiet = true;
  to.clip_grad_norm = 1.0;
  auto r = train::train(task, *opt, sched, to);
  EXPECT_LT(r.last_metrics.at("bits_per_char"), 0.1);  // chance: log2(16) = 4 bits
  // Greedy generation after "hello w" continues the text.
  CharStepModel step(m);
  m->eval();
  auto prime = c.vocab.encode(data::decode_utf8("hello w", "p"));
  std::vector<int64_t> p(prime.data_ptr<int64_t>(), prime.data_ptr<int64_t>() + prime.numel());
  auto out = decode::generate(step, p, 22, {0.0, 0, 1.0}, 1);
  EXPECT_EQ(c.vocab.decode(out), "orld, hello seqtorch. ");
  auto s = score_text(m, c.ids, 4, 64, torch::kCPU);
  EXPECT_LT(s.bits_per_char, 0.1);
  EXPECT_NEAR(s.perplexity, std::exp2(s.bits_per_char), 1e-9);
}

TEST(CharModel, TiedWeightsShareTheEmbedding) {
  auto c = corpus("abcabc");
  CharModel m(CharModelOptions(c.vocab.size()).hidden_size(8).embedding_size(8).tie_weights(true), c.vocab);
  EXPECT_FALSE(m->head_weight.defined());
  EXPECT_TRUE(test::throws_with([&] { CharModel(CharModelOptions(c.vocab.size()).hidden_size(8).embedding_size(4).tie_weights(true), c.vocab); },
                                {"tie-weights", "embedding size = hidden size"}));
  EXPECT_TRUE(test::throws_with([&] { StreamTask(m, c.ids, c.ids, 4, 8, torch::kCPU); },
                                {"fewer than one batch of sequences", "4 x (seq-len 8 + 1) = 36"}));
}

}  // namespace
}  // namespace seqtorch::textgen
