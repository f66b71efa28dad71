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
#include <fstream>

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

// The split a CUDA graph captures (step_inputs + static_loss, the carried state in buffers the
// engine refreshes from StaticLoss::carry) computes what train_loss computes, chunk after chunk,
// the short last chunk included, and a new epoch starts both afresh.
TEST(StreamTask, StaticStepsEqualTrainLoss) {
  auto c = corpus(std::string(300, 'a') + "the quick brown fox jumps over the lazy dog");
  torch::manual_seed(3);
  CharModel m(CharModelOptions(c.vocab.size()).hidden_size(16).embedding_size(8).num_layers(2), c.vocab);
  StreamTask eager(m, c.ids, c.ids.narrow(0, 0, 50), 4, 9, torch::kCPU);
  StreamTask split(m, c.ids, c.ids.narrow(0, 0, 50), 4, 9, torch::kCPU);
  ASSERT_TRUE(split.capturable());
  const int64_t batches = eager.batches_per_epoch();
  ASSERT_GE(batches, 3);
  ASSERT_NE((c.ids.numel() / 4 - 1) % 9, 0) << "the test wants a short last chunk";
  std::vector<double> first_losses;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    eager.start_epoch(epoch);
    split.start_epoch(epoch);
    for (int64_t i = 0; i < batches; ++i) {
      const auto a = eager.train_loss(epoch, i);
      const auto in = split.step_inputs(epoch, i);
      ASSERT_EQ(in.tensors.size(), 2u);
      EXPECT_EQ(in.items, a.items);
      std::vector<torch::Tensor> copies;  // as the engine's static buffers
      for (const auto& t : in.tensors) copies.push_back(t.clone(torch::MemoryFormat::Contiguous));
      auto b = split.static_loss(copies);
      ASSERT_EQ(b.carry.size(), 2u) << "LSTM: h and c";
      EXPECT_NEAR(a.loss.item<double>(), b.loss.item<double>(), 1e-6) << "epoch " << epoch << " chunk " << i;
      torch::NoGradGuard no_grad;
      for (auto& [into, value] : b.carry) into.copy_(value);
      EXPECT_TRUE(test::all_close(b.carry[0].first, eager.state().h, 1e-6, "carried h"));
      if (i == 0) first_losses.push_back(a.loss.item<double>());
    }
  }
  EXPECT_NEAR(first_losses[0], first_losses[1], 1e-9) << "each epoch starts from a zero state";
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

// The training step captured in a CUDA graph against the same run launched step by step: the
// same losses at every step (the short last chunk of each epoch runs eagerly, the schedule's
// learning rate changes under the graph), the same weights at the end; and the fallbacks.
TEST(StreamTaskCuda, CapturedStepsMatchEagerSteps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  std::string text;
  for (int i = 0; i < 30; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  auto c = corpus(text);
  const torch::Device cuda(torch::kCUDA, 0);
  auto run = [&](bool graph, int64_t accumulation, const std::string& out) {
    torch::manual_seed(9);
    CharModel m(small_model(c.vocab.size()), c.vocab);
    m->to(cuda);
    StreamTask task(m, c.ids, c.ids.narrow(0, 0, 200), 4, 25, cuda);
    train::OptimizerOptions oo;
    oo.lr = 5e-3;
    auto opt = train::make_optimizer(m->parameters(), oo);
    train::ScheduleOptions so;
    so.kind = train::ScheduleKind::cosine;
    so.warmup_steps = 5;
    so.total_steps = 60;
    train::LrSchedule sched(oo.lr, so);
    train::TrainerOptions to;
    to.epochs = 3;
    to.quiet = true;
    to.clip_grad_norm = 1.0;
    to.log_every = 1;
    to.eval_every = 7;
    to.accumulation = accumulation;
    to.cuda_graph = graph;
    to.out_dir = out;
    auto r = train::train(task, *opt, sched, to);
    std::vector<torch::Tensor> weights;
    for (const auto& p : m->parameters()) weights.push_back(p.detach().cpu());
    return std::make_pair(r, weights);
  };
  auto losses = [](const std::string& path) {
    std::vector<double> out;
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);) {
      if (l.find("\"split\":\"train\"") == std::string::npos || l.find("\"event\"") != std::string::npos) continue;
      const auto p = l.find("\"loss\":");
      if (p != std::string::npos) out.push_back(std::stod(l.substr(p + 7)));
    }
    return out;
  };
  test::TempDir eager_dir, graph_dir, accumulate_dir;
  auto [eager, eager_weights] = run(false, 1, eager_dir.path);
  auto [graph, graph_weights] = run(true, 1, graph_dir.path);
  const int64_t batches = (c.ids.numel() / 4 - 1 + 24) / 25;
  ASSERT_GE(batches, 4);
  {  // a capture that failed says why in metrics.jsonl
    std::ifstream in(graph_dir.file("metrics.jsonl"));
    for (std::string l; std::getline(in, l);)
      if (l.find("cuda_graph_failed") != std::string::npos) ADD_FAILURE() << l;
  }
  EXPECT_EQ(eager.graph_steps, 0);
  EXPECT_EQ(graph.steps, eager.steps);
  // Per epoch the short last chunk runs eagerly; the first two steps of the run warm up.
  EXPECT_EQ(graph.graph_steps, graph.steps - 3 - 2) << "steps " << graph.steps;
  const auto a = losses(eager_dir.file("metrics.jsonl")), b = losses(graph_dir.file("metrics.jsonl"));
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(static_cast<int64_t>(a.size()), eager.steps);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * std::abs(a[i])) << "step " << i + 1;
  for (size_t i = 0; i < eager_weights.size(); ++i)
    EXPECT_TRUE(test::all_close(eager_weights[i], graph_weights[i], 1e-4, "parameter " + std::to_string(i)));
  EXPECT_NEAR(eager.best_metric, graph.best_metric, 1e-4);
  // Gradient accumulation is not captured.
  EXPECT_EQ(run(true, 2, accumulate_dir.path).first.graph_steps, 0);
}

}  // namespace
}  // namespace seqtorch::textgen
