// The character language model: state carried across chunks, a tiny corpus learned to near-zero
// loss, greedy generation reproducing it, scoring.
#include <seqtorch/export/script_module.h>
#include <seqtorch/export/textgen_export.h>
#include <seqtorch/textgen/fast_generator.h>
#include <seqtorch/textgen/stream_task.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>

#include "support/cuda_tagged.h"
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

// ---- device rules on seqtorch-textgen checkpoints ------------------------------------------
// A checkpoint written by a CUDA run once crashed sample, evaluate and export: the vocabulary
// was read from the memory of a tensor on the GPU. Every checkpoint now loads onto the CPU first.

CharModelOptions small_model(int64_t vocab) {
  return CharModelOptions(vocab).hidden_size(24).embedding_size(12).num_layers(2);
}

std::vector<int64_t> ids_of(const data::Vocabulary& vocab, const std::string& text) {
  auto t = vocab.encode(data::decode_utf8(text, "prime"));
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

TEST(CharModelCheckpoint, CudaRunCheckpointLoadsSamplesAndExportsOnTheCpu) {
  auto c = corpus("über naïve café, 漢字 ok. ");
  torch::manual_seed(4);
  CharModel m(small_model(c.vocab.size()), c.vocab);
  test::TempDir dir;
  train::CheckpointInfo info;
  info.app = "textgen";
  train::save_checkpoint(dir.file("cpu.pt"), info, *m, nullptr);
  ASSERT_GE(test::retag_storages_as_cuda(dir.file("cpu.pt"), dir.file("cuda.pt")), 1);
  if (!torch::cuda::is_available()) {
    // Read as the file says, its tensors would have to go to a GPU this machine lacks.
    torch::serialize::InputArchive raw;
    EXPECT_ANY_THROW(raw.load_from(dir.file("cuda.pt")));
  }
  const auto vocab = vocabulary_of_checkpoint(dir.file("cuda.pt"));
  EXPECT_TRUE(torch::equal(vocab.table(), c.vocab.table()));
  EXPECT_EQ(vocab.decode(ids_of(vocab, "café 漢字")), "café 漢字");
  CharModel loaded(small_model(vocab.size()), vocab);
  train::load_checkpoint(dir.file("cuda.pt"), "textgen", *loaded, nullptr, false);
  for (const auto& p : m->named_parameters()) {
    const torch::Tensor q = loaded->named_parameters()[p.key()];
    EXPECT_TRUE(q.device().is_cpu()) << p.key();
    EXPECT_TRUE(torch::equal(q, p.value())) << p.key();
  }
  loaded->eval();
  m->eval();
  const decode::SamplingOptions greedy{0.0, 0, 1.0};
  EXPECT_EQ(FastGenerator(loaded).generate(ids_of(vocab, "caf"), 12, greedy, 1),
            FastGenerator(m).generate(ids_of(c.vocab, "caf"), 12, greedy, 1));
  exporting::export_char_model(loaded, dir.file("lm.pt"));
  auto archive = exporting::load_export(dir.file("lm.pt"));
  auto tokens = torch::randint(vocab.size(), {5, 2}, torch::kLong);
  exporting::InferenceGuard inference;
  auto logits = archive.forward({tokens, c10::List<torch::Tensor>()}).toTuple()->elements()[0].toTensor();
  EXPECT_TRUE(test::all_close(logits, m->forward(tokens).logits, 1e-5, "exported logits"));
}

// Trains `m` briefly on `device` into run folder `out` (resuming it when `resume`).
train::TrainResult train_on(CharModel& m, const Corpus& c, torch::Device device,
                            const std::string& out, int64_t epochs, bool resume) {
  m->to(device);
  StreamTask task(m, c.ids, c.ids, 4, 16, device);
  train::OptimizerOptions oo;
  oo.lr = 1e-2;
  auto opt = train::make_optimizer(m->parameters(), oo);
  train::LrSchedule sched(oo.lr, train::ScheduleOptions{});
  train::TrainerOptions to;
  to.epochs = epochs;
  to.quiet = true;
  to.clip_grad_norm = 1.0;
  to.out_dir = out;
  to.app = "textgen";
  to.resume = resume;
  return train::train(task, *opt, sched, to);
}

TEST(CharModelCheckpointCuda, CudaRunSamplesEvaluatesResumesAndExportsOnCpuAndGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);  // CPU and GPU greedy decoding compared below
  std::string text;
  for (int i = 0; i < 40; ++i) text += "abc déf ghi, jkl. ";
  auto c = corpus(text);
  const torch::Device cuda(torch::kCUDA, 0);
  test::TempDir dir;
  torch::manual_seed(6);
  CharModel gpu(small_model(c.vocab.size()), c.vocab);
  auto r = train_on(gpu, c, cuda, dir.path, 3, false);
  EXPECT_EQ(r.epochs, 3);
  const std::string best = dir.file("checkpoints/best.pt");
  // On the CPU: the vocabulary, the weights, sampling, scoring and export.
  const auto vocab = vocabulary_of_checkpoint(best);
  CharModel cpu(small_model(vocab.size()), vocab);
  train::load_checkpoint(best, "textgen", *cpu, nullptr, false);
  for (const auto& p : cpu->parameters()) EXPECT_TRUE(p.device().is_cpu());
  cpu->eval();
  const decode::SamplingOptions greedy{0.0, 0, 1.0};
  const auto on_cpu = FastGenerator(cpu).generate(ids_of(vocab, "abc d"), 20, greedy, 1);
  // On the GPU: the same checkpoint into a model already there stays there.
  CharModel again(small_model(vocab.size()), vocab);
  again->to(cuda);
  train::load_checkpoint(best, "textgen", *again, nullptr, false);
  for (const auto& p : again->parameters()) EXPECT_TRUE(p.device().is_cuda());
  again->eval();
  CharStepModel step(again);
  EXPECT_EQ(decode::generate(step, ids_of(vocab, "abc d"), 20, greedy, 1), on_cpu);
  const double bpc_cpu = score_text(cpu, c.ids, 4, 64, torch::kCPU).bits_per_char;
  const double bpc_gpu = score_text(again, c.ids, 4, 64, cuda).bits_per_char;
  EXPECT_NEAR(bpc_cpu, bpc_gpu, 1e-3);
  exporting::export_char_model(cpu, dir.file("lm.pt"));
  EXPECT_NO_THROW(exporting::load_export(dir.file("lm.pt")));
  // The CUDA run resumes on the CPU (model, Adam's moments, progress) and the CPU run on CUDA.
  CharModel resumed(small_model(vocab.size()), vocab);
  auto r2 = train_on(resumed, c, torch::kCPU, dir.path, 4, true);
  EXPECT_EQ(r2.epochs, 4);
  EXPECT_EQ(r2.steps, r.steps / 3 * 4);
  CharModel back(small_model(vocab.size()), vocab);
  auto r3 = train_on(back, c, cuda, dir.path, 5, true);
  EXPECT_EQ(r3.epochs, 5);
  EXPECT_LT(r3.best_metric, r.best_metric) << "training went on improving across devices";
}

}  // namespace
}  // namespace seqtorch::textgen
