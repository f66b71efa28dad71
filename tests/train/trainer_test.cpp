// The engine end to end on a small sequence regression: exact resume, determinism, early
// stopping, best model, non-finite steps, gradient accumulation, signals, logs.
#include <seqtorch/nn/sequence_shapes.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/trainer.h>
#include <seqtorch/util/stop_signal.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <csignal>
#include <cmath>
#include <fstream>

namespace seqtorch::train {
namespace {

// Sum of a sequence, as many-to-one regression, with dropout so that resume must restore the RNG.
// Batch order is a permutation drawn from (seed, epoch) alone.
class SumTask : public TrainTask {
 public:
  explicit SumTask(uint64_t init_seed, double dropout = 0.2, int64_t batch = 8) : batch_(batch) {
    torch::manual_seed(init_seed);
    model_ = nn::ManyToOne(nn::RecurrentOptions(1, 8).cell(nn::CellKind::gru).num_layers(2)
                               .dropout(dropout), 1);
    model_->to(torch::kDouble);
    auto gen = at::detail::createCPUGenerator(77);
    x_ = torch::rand({6, 64, 1}, gen, torch::kDouble);
    y_ = x_.sum(0);
    vx_ = torch::rand({6, 32, 1}, gen, torch::kDouble);
    vy_ = vx_.sum(0);
  }
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override { return 64 / batch_; }
  void start_epoch(int64_t epoch) override {
    order_ = torch::randperm(64, at::detail::createCPUGenerator(1000 + epoch), torch::kLong);
  }
  StepLoss train_loss(int64_t epoch, int64_t index) override {
    ++calls;
    if (signal_at >= 0 && epoch * batches_per_epoch() + index == signal_at) std::raise(SIGINT);
    auto idx = order_.narrow(0, index * batch_, batch_);
    auto pred = model_->forward(x_.index_select(1, idx));
    if (nan_from >= 0 && epoch * batches_per_epoch() + index >= nan_from) pred = pred * std::nan("");
    return {torch::mse_loss(pred, y_.index_select(0, idx)), batch_};
  }
  std::map<std::string, double> evaluate() override {
    if (!fixed_metrics.empty()) {
      auto m = fixed_metrics.front();
      if (fixed_metrics.size() > 1) fixed_metrics.erase(fixed_metrics.begin());
      return {{"loss", m}};
    }
    return {{"loss", torch::mse_loss(model_->forward(vx_), vy_).item<double>()}};
  }
  std::vector<torch::Tensor> params() { return model_->parameters(); }

  int64_t nan_from = -1, signal_at = -1, calls = 0;
  std::vector<double> fixed_metrics;
  nn::ManyToOne model_{nullptr};

 private:
  int64_t batch_;
  torch::Tensor x_, y_, vx_, vy_, order_;
};

OptimizerOptions adam() {
  OptimizerOptions o;
  o.lr = 0.01;
  return o;
}

TrainerOptions quiet(const std::filesystem::path& dir, int64_t epochs) {
  TrainerOptions o;
  o.epochs = epochs;
  o.out_dir = dir;
  o.app = "test";
  o.quiet = true;
  o.clip_grad_norm = 1.0;
  o.log_every = 2;
  return o;
}

std::vector<std::string> lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Trainer, InterruptedAndResumedRunEndsBitIdentical) {
  test::TempDir whole_dir, split_dir;
  ScheduleOptions cosine;
  cosine.kind = ScheduleKind::cosine;
  cosine.warmup_steps = 4;
  cosine.total_steps = 40;
  // Uninterrupted: 5 epochs.
  SumTask whole(1);
  torch::manual_seed(42);
  auto opt = make_optimizer(whole.params(), adam());
  LrSchedule sched(0.01, cosine);
  auto r = train(whole, *opt, sched, quiet(whole_dir.path, 5));
  EXPECT_EQ(r.epochs, 5);
  EXPECT_EQ(r.steps, 40);
  // Stopped after epoch 2 ...
  {
    SumTask first(1);
    torch::manual_seed(42);
    auto o1 = make_optimizer(first.params(), adam());
    LrSchedule s1(0.01, cosine);
    EXPECT_EQ(train(first, *o1, s1, quiet(split_dir.path, 2)).epochs, 2);
  }
  // ... and resumed in a fresh model, optimiser, schedule and RNG state.
  SumTask resumed(999);
  torch::manual_seed(12345);
  auto o2 = make_optimizer(resumed.params(), adam());
  LrSchedule s2(0.01, cosine);
  auto opts = quiet(split_dir.path, 5);
  opts.resume = true;
  auto r2 = train(resumed, *o2, s2, opts);
  EXPECT_EQ(r2.epochs, 5);
  EXPECT_EQ(r2.steps, 40);
  auto a = whole.params(), b = resumed.params();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  EXPECT_EQ(r.best_metric, r2.best_metric);
  // The resumed run appended to the same log.
  EXPECT_EQ(lines(split_dir.path / "metrics.jsonl").size(), lines(whole_dir.path / "metrics.jsonl").size());
}

TEST(Trainer, SameSeedSameLossesAndModelLearns) {
  test::TempDir d1, d2;
  std::vector<std::vector<torch::Tensor>> finals;
  std::vector<TrainResult> results;
  for (auto* dir : {&d1, &d2}) {
    SumTask task(1);
    torch::manual_seed(7);
    auto opt = make_optimizer(task.params(), adam());
    LrSchedule sched(0.01, ScheduleOptions{});
    auto before = task.evaluate().at("loss");
    results.push_back(train(task, *opt, sched, quiet(dir->path, 8)));
    EXPECT_LT(results.back().best_metric, 0.1 * before) << "the model learns";
    finals.push_back(task.params());
  }
  for (size_t i = 0; i < finals[0].size(); ++i) EXPECT_TRUE(torch::equal(finals[0][i], finals[1][i]));
  EXPECT_EQ(lines(d1.path / "metrics.jsonl"), std::vector<std::string>(lines(d1.path / "metrics.jsonl")));
  // Losses logged by the two runs are the same numbers (elapsed and rates differ).
  auto strip = [](std::string l) {
    for (auto key : {"\"elapsed_s\"", "\"samples_per_s\""}) {
      auto p = l.find(key);
      if (p != std::string::npos) l = l.substr(0, p);
    }
    return l;
  };
  auto l1 = lines(d1.path / "metrics.jsonl"), l2 = lines(d2.path / "metrics.jsonl");
  ASSERT_EQ(l1.size(), l2.size());
  for (size_t i = 0; i < l1.size(); ++i) EXPECT_EQ(strip(l1[i]), strip(l2[i]));
}

TEST(Trainer, EarlyStoppingKeepsBestCheckpoint) {
  test::TempDir dir;
  SumTask task(1);
  task.fixed_metrics = {3.0, 2.0, 2.5, 2.4, 2.2, 1.0};  // best at the 2nd evaluation
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto o = quiet(dir.path, 20);
  o.patience = 3;
  auto r = train(task, *opt, sched, o);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.epochs, 5);  // evaluations 3, 4, 5 without gain
  EXPECT_EQ(r.best_metric, 2.0);
  auto best = read_checkpoint_info(dir.path / "checkpoints" / "best.pt");
  EXPECT_EQ(best.epoch, 2);  // saved at the evaluation after the 2nd epoch
  EXPECT_EQ(best.best_metric, 2.0);
  EXPECT_EQ(read_checkpoint_info(dir.path / "checkpoints" / "last.pt").epoch, 5);
}

TEST(Trainer, NonFiniteStepsAreSkippedThenStopWithLastCheckpointIntact) {
  test::TempDir dir;
  SumTask task(1);
  task.nan_from = 8 * 2 + 3;  // from the 4th step of epoch 3 on, every loss is NaN
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto o = quiet(dir.path, 5);
  o.max_bad_steps = 3;
  EXPECT_TRUE(test::throws_with([&] { train(task, *opt, sched, o); },
                                {"3 consecutive steps", "non-finite", "last good checkpoint"}));
  auto info = read_checkpoint_info(dir.path / "checkpoints" / "last.pt");
  EXPECT_EQ(info.epoch, 2);
  EXPECT_EQ(info.step, 16);
  int skipped = 0;
  for (const auto& l : lines(dir.path / "metrics.jsonl"))
    skipped += l.find("skipped_non_finite") != std::string::npos;
  EXPECT_EQ(skipped, 3);
  for (const auto& p : task.params()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Trainer, AccumulatedMicroBatchesEqualOneLargeBatch) {
  test::TempDir d1, d2;
  OptimizerOptions sgd{OptimizerKind::sgd, 0.05};
  SumTask big(1, 0.0, 16), small(1, 0.0, 8);
  auto o1 = make_optimizer(big.params(), sgd), o2 = make_optimizer(small.params(), sgd);
  LrSchedule s1(0.05, ScheduleOptions{}), s2(0.05, ScheduleOptions{});
  auto t1 = quiet(d1.path, 2), t2 = quiet(d2.path, 2);
  t1.clip_grad_norm = t2.clip_grad_norm = 0;
  t2.accumulation = 2;
  EXPECT_EQ(train(big, *o1, s1, t1).steps, 8);
  EXPECT_EQ(train(small, *o2, s2, t2).steps, 8);
  auto a = big.params(), b = small.params();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(test::all_close(a[i], b[i], 1e-12, "parameter " + std::to_string(i)));
}

TEST(Trainer, SigintFinishesStepWritesLastAndResumes) {
  test::TempDir dir;
  util::install_stop_handlers();
  util::clear_stop_request();
  SumTask task(1);
  task.signal_at = 8 + 5;  // during the 6th step of epoch 2
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto r = train(task, *opt, sched, quiet(dir.path, 4));
  util::clear_stop_request();
  std::signal(SIGINT, SIG_DFL);
  EXPECT_EQ(r.signal, SIGINT);
  EXPECT_EQ(r.steps, 14);  // the interrupted step was completed
  auto info = read_checkpoint_info(dir.path / "checkpoints" / "last.pt");
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(info.batch_in_epoch, 6);
  EXPECT_EQ(info.step, 14);
  SumTask again(5);
  auto opt2 = make_optimizer(again.params(), adam());
  LrSchedule sched2(0.01, ScheduleOptions{});
  auto o = quiet(dir.path, 4);
  o.resume = true;
  auto r2 = train(again, *opt2, sched2, o);
  EXPECT_EQ(r2.steps, 32);
  EXPECT_EQ(again.calls, 32 - 14);
}

TEST(Trainer, LogsGradNormBeforeClippingAndRates) {
  test::TempDir dir;
  SumTask task(1);
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto o = quiet(dir.path, 1);
  o.clip_grad_norm = 1e-3;  // far below the real norm
  train(task, *opt, sched, o);
  auto ls = lines(dir.path / "metrics.jsonl");
  ASSERT_EQ(ls.size(), 5u);  // 4 training lines (8 steps, every 2nd) and 1 evaluation
  for (const char* key : {"\"split\":\"train\"", "\"step\":2", "\"epoch\":0", "\"loss\":",
                          "\"lr\":0.01", "\"grad_norm\":", "\"samples_per_s\":", "\"elapsed_s\":"})
    EXPECT_NE(ls[0].find(key), std::string::npos) << key << " in " << ls[0];
  const auto p = ls[0].find("\"grad_norm\":") + 12;
  EXPECT_GT(std::stod(ls[0].substr(p)), 1e-2) << "the norm logged is the one before clipping";
  EXPECT_NE(ls[4].find("\"split\":\"val\""), std::string::npos);
}

}  // namespace
}  // namespace seqtorch::train
