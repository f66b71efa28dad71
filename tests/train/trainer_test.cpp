// The engine end to end on a small sequence regression: exact resume, determinism, early
// stopping, best model, non-finite steps, gradient accumulation, signals, logs.
#include <seqtorch/nn/sequence_shapes.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/device_step.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/trainer.h>
#include <seqtorch/util/stop_signal.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <csignal>
#include <cmath>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace seqtorch::train {
namespace {

// Sum of a sequence, as many-to-one regression, with dropout so that resume must restore the RNG.
// Batch order is a permutation drawn from (seed, epoch) alone.
class SumTask : public TrainTask {
 public:
  explicit SumTask(uint64_t init_seed, double dropout = 0.2, int64_t batch = 8,
                   torch::Device device = torch::kCPU)
      : batch_(batch), device_(device) {
    torch::manual_seed(init_seed);
    model_ = nn::ManyToOne(nn::RecurrentOptions(1, 8).cell(nn::CellKind::gru).num_layers(2)
                               .dropout(dropout), 1);
    model_->to(device, torch::kDouble);
    auto gen = at::detail::createCPUGenerator(77);
    x_ = torch::rand({6, 64, 1}, gen, torch::kDouble).to(device);
    y_ = x_.sum(0);
    vx_ = torch::rand({6, 32, 1}, gen, torch::kDouble).to(device);
    vy_ = vx_.sum(0);
  }
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override { return 64 / batch_; }
  void start_epoch(int64_t epoch) override {
    order_ = torch::randperm(64, at::detail::createCPUGenerator(1000 + epoch), torch::kLong).to(device_);
  }
  StepLoss train_loss(int64_t epoch, int64_t index) override {
    ++calls;
    if (signal_at >= 0 && epoch * batches_per_epoch() + index == signal_at) std::raise(SIGINT);
    auto idx = order_.narrow(0, index * batch_, batch_);
    auto pred = model_->forward(x_.index_select(1, idx));
    const int64_t at = epoch * batches_per_epoch() + index;
    if (nan_from >= 0 && at >= nan_from && (nan_until < 0 || at < nan_until)) pred = pred * std::nan("");
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

  int64_t nan_from = -1, nan_until = -1, signal_at = -1, calls = 0;
  std::vector<double> fixed_metrics;
  nn::ManyToOne model_{nullptr};

 private:
  int64_t batch_;
  torch::Device device_;
  torch::Tensor x_, y_, vx_, vy_, order_;
};

OptimizerOptions adam() {
  OptimizerOptions o;
  o.lr = 0.01;
  return o;
}

TrainerOptions quiet(const std::string& dir, int64_t epochs) {
  TrainerOptions o;
  o.epochs = epochs;
  o.out_dir = dir;
  o.app = "test";
  o.quiet = true;
  o.clip_grad_norm = 1.0;
  o.log_every = 2;
  return o;
}

// Continues the run in `dir` up to `epochs` with `task` (Adam, a constant schedule).
TrainResult resume_in(SumTask& task, const std::string& dir, int64_t epochs) {
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto o = quiet(dir, epochs);
  o.resume = true;
  return train(task, *opt, sched, o);
}

std::vector<std::string> lines(const std::string& p) {
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
  EXPECT_EQ(lines(split_dir.file("metrics.jsonl")).size(), lines(whole_dir.file("metrics.jsonl")).size());
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
  EXPECT_EQ(lines(d1.file("metrics.jsonl")), std::vector<std::string>(lines(d1.file("metrics.jsonl"))));
  // Losses logged by the two runs are the same numbers (elapsed and rates differ).
  auto strip = [](std::string l) {
    for (auto key : {"\"elapsed_s\"", "\"samples_per_s\""}) {
      auto p = l.find(key);
      if (p != std::string::npos) l = l.substr(0, p);
    }
    return l;
  };
  auto l1 = lines(d1.file("metrics.jsonl")), l2 = lines(d2.file("metrics.jsonl"));
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
  auto best = read_checkpoint_info(dir.file("checkpoints/best.pt"));
  EXPECT_EQ(best.epoch, 2);  // saved at the evaluation after the 2nd epoch
  EXPECT_EQ(best.best_metric, 2.0);
  EXPECT_EQ(read_checkpoint_info(dir.file("checkpoints/last.pt")).epoch, 5);
  // Resumed (as after a kill that came once the run had ended): nothing more is trained.
  SumTask again(1);
  again.fixed_metrics = {0.5};
  auto opt2 = make_optimizer(again.params(), adam());
  o.resume = true;
  auto resumed = train(again, *opt2, sched, o);
  EXPECT_TRUE(resumed.stopped_early);
  EXPECT_EQ(resumed.epochs, 5);
  EXPECT_EQ(resumed.steps, r.steps);
  EXPECT_EQ(resumed.best_metric, 2.0);
  EXPECT_EQ(again.calls, 0);
}

TEST(Trainer, StopAtEndsTheRunAtTheFirstEvaluationThatReachesIt) {
  for (bool lower : {true, false}) {
    SCOPED_TRACE(lower ? "lower is better" : "higher is better");
    test::TempDir dir;
    SumTask task(1);
    task.fixed_metrics = lower ? std::vector<double>{3.0, 2.0, 0.5, 0.1} : std::vector<double>{0.1, 0.2, 0.9, 1.0};
    auto opt = make_optimizer(task.params(), adam());
    LrSchedule sched(0.01, ScheduleOptions{});
    auto o = quiet(dir.path, 10);
    o.lower_is_better = lower;
    o.stop_at = lower ? 0.5 : 0.9;  // reached exactly at the 3rd evaluation
    auto r = train(task, *opt, sched, o);
    EXPECT_TRUE(r.reached_target);
    EXPECT_TRUE(r.stopped_early);
    EXPECT_EQ(r.epochs, 3);
    EXPECT_EQ(r.steps, 3 * 8);
  }
  // Not reached: the run goes on to its last epoch.
  test::TempDir dir;
  SumTask task(1);
  task.fixed_metrics = {3.0, 2.0};
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto o = quiet(dir.path, 4);
  o.stop_at = 1.0;
  auto r = train(task, *opt, sched, o);
  EXPECT_FALSE(r.reached_target);
  EXPECT_EQ(r.epochs, 4);
}

// From the 4th step of epoch 3 on every loss is NaN: three steps are skipped (weights untouched,
// counted and logged), then the run stops with one clear error and last.pt of epoch 2 intact.
void check_non_finite_steps_stop(torch::Device device) {
  test::TempDir dir;
  SumTask task(1, 0.2, 8, device);
  task.nan_from = 8 * 2 + 3;
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto o = quiet(dir.path, 5);
  o.max_bad_steps = 3;
  EXPECT_TRUE(test::throws_with([&] { train(task, *opt, sched, o); },
                                {"3 consecutive steps", "non-finite", "at step 19", "last good checkpoint"}));
  auto info = read_checkpoint_info(dir.file("checkpoints/last.pt"));
  EXPECT_EQ(info.epoch, 2);
  EXPECT_EQ(info.step, 16);
  int skipped = 0;
  for (const auto& l : lines(dir.file("metrics.jsonl")))
    skipped += l.find("skipped_non_finite") != std::string::npos;
  EXPECT_EQ(skipped, 3);
  for (const auto& p : task.params()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Trainer, NonFiniteStepsAreSkippedThenStopWithLastCheckpointIntact) {
  check_non_finite_steps_stop(torch::kCPU);
}

TEST(Trainer, SkippedStepsAreCountedAcrossAResume) {
  // Two NaN steps in epoch 1, then the run is stopped after epoch 2 and resumed: the count
  // (in the result and in last.pt, which the apps' metrics.json reports) stays 2.
  test::TempDir dir;
  SumTask task(1);
  task.nan_from = 8 + 1;
  task.nan_until = 8 + 3;
  auto opt = make_optimizer(task.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  auto r = train(task, *opt, sched, quiet(dir.path, 2));
  EXPECT_EQ(r.skipped_steps, 2);
  EXPECT_EQ(r.steps, 2 * 8 - 2);
  EXPECT_EQ(read_checkpoint_info(dir.file("checkpoints/last.pt")).skipped_steps, 2);
  SumTask again(1);
  auto resumed = resume_in(again, dir.path, 3);
  EXPECT_EQ(resumed.skipped_steps, 2);
  EXPECT_EQ(resumed.steps, 3 * 8 - 2);
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
  auto info = read_checkpoint_info(dir.file("checkpoints/last.pt"));
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(info.batch_in_epoch, 6);
  EXPECT_EQ(info.step, 14);
  SumTask again(5);
  auto r2 = resume_in(again, dir.path, 4);
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
  auto ls = lines(dir.file("metrics.jsonl"));
  ASSERT_EQ(ls.size(), 5u);  // 4 training lines (8 steps, every 2nd) and 1 evaluation
  for (const char* key : {"\"split\":\"train\"", "\"step\":2", "\"epoch\":0", "\"loss\":",
                          "\"lr\":0.01", "\"grad_norm\":", "\"samples_per_s\":", "\"elapsed_s\":"})
    EXPECT_NE(ls[0].find(key), std::string::npos) << key << " in " << ls[0];
  const auto p = ls[0].find("\"grad_norm\":") + 12;
  EXPECT_GT(std::stod(ls[0].substr(p)), 1e-2) << "the norm logged is the one before clipping";
  EXPECT_NE(ls[4].find("\"split\":\"val\""), std::string::npos);
}

// Off a terminal (ctest captures stderr): a progress line at most every progress_every_s seconds,
// and one per evaluation (the old behaviour, a line every log_every steps, filled logs).
TEST(Trainer, ProgressOffATerminalIsOneLinePerIntervalAndOnePerEvaluation) {
  ASSERT_EQ(::isatty(STDERR_FILENO), 0) << "run with stderr redirected";
  auto count = [](const std::string& text, const std::string& start) {
    int n = 0;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) n += l.rfind(start, 0) == 0;
    return n;
  };
  for (const double every : {1e9, 0.0}) {
    SumTask task(1);
    auto opt = make_optimizer(task.params(), adam());
    LrSchedule sched(0.01, ScheduleOptions{});
    auto o = quiet("", 2);  // 2 epochs of 8 steps, an evaluation after each
    o.quiet = false;
    o.progress_every_s = every;
    ::testing::internal::CaptureStderr();
    train(task, *opt, sched, o);
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(count(err, "eval step "), 2) << err;
    EXPECT_EQ(count(err, "epoch "), every > 0 ? 0 : 16) << err;
  }
}

// ---- on a GPU: steps queued with their skip decided on the device (DeviceStep) ----------------

// The same run with steps decided on the host and on the device: same steps, same logged losses
// and the same weights (fused and unfused Adam agree to rounding in float64).
TEST(TrainerCuda, DeviceStepsMatchHostSteps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  test::TempDir d1, d2;
  std::vector<std::vector<torch::Tensor>> finals;
  std::vector<TrainResult> results;
  for (bool host : {true, false}) {
    SumTask task(1, 0.0, 8, cuda);
    auto opt = make_optimizer(task.params(), adam());
    EXPECT_EQ(DeviceStep::supports(*opt), true);
    LrSchedule sched(0.01, ScheduleOptions{});
    auto o = quiet(host ? d1.path : d2.path, 4);
    o.synchronous_steps = host;
    o.eval_every = 6;
    results.push_back(train(task, *opt, sched, o));
    finals.push_back(task.params());
  }
  EXPECT_EQ(results[0].steps, 32);
  EXPECT_EQ(results[1].steps, 32);
  EXPECT_NEAR(results[0].best_metric, results[1].best_metric, 1e-9);
  for (size_t i = 0; i < finals[0].size(); ++i)
    EXPECT_TRUE(test::all_close(finals[0][i], finals[1][i], 1e-9, "parameter " + std::to_string(i)));
  auto l1 = lines(d1.file("metrics.jsonl")), l2 = lines(d2.file("metrics.jsonl"));
  ASSERT_EQ(l1.size(), l2.size());
  for (size_t i = 0; i < l1.size(); ++i) {
    auto field = [](const std::string& l, const std::string& key) {
      const auto p = l.find("\"" + key + "\":");
      return p == std::string::npos ? std::string() : l.substr(p, l.find(',', p) - p);
    };
    EXPECT_EQ(field(l1[i], "step"), field(l2[i], "step")) << i;
    EXPECT_EQ(field(l1[i], "split"), field(l2[i], "split")) << i;
  }
}

// Non-finite steps are skipped on the device (weights untouched), counted and logged one step
// later, and the run stops after max_bad_steps in a row with last.pt intact, as on the host.
TEST(TrainerCuda, NonFiniteStepsAreSkippedOnTheDeviceThenStop) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  check_non_finite_steps_stop(torch::Device(torch::kCUDA, 0));
}

// Stopped and resumed on CUDA with device steps: model, Adam's moments and its step counts
// (DeviceStep::write_back) come back, and the run ends where the uninterrupted one does. Without
// dropout: cuDNN's RNN dropout keeps a random state of its own that no checkpoint can hold (as in
// PyTorch), so with dropout a resumed CUDA run continues statistically, not bit for bit.
TEST(TrainerCuda, InterruptedAndResumedRunEndsTheSame) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  test::TempDir whole_dir, split_dir;
  SumTask whole(1, 0.0, 8, cuda);
  torch::manual_seed(42);
  auto opt = make_optimizer(whole.params(), adam());
  LrSchedule sched(0.01, ScheduleOptions{});
  train(whole, *opt, sched, quiet(whole_dir.path, 4));
  {
    SumTask first(1, 0.0, 8, cuda);
    torch::manual_seed(42);
    auto o1 = make_optimizer(first.params(), adam());
    LrSchedule s1(0.01, ScheduleOptions{});
    train(first, *o1, s1, quiet(split_dir.path, 2));
  }
  SumTask resumed(999, 0.0, 8, cuda);
  torch::manual_seed(12345);
  auto o2 = make_optimizer(resumed.params(), adam());
  LrSchedule s2(0.01, ScheduleOptions{});
  auto opts = quiet(split_dir.path, 4);
  opts.resume = true;
  EXPECT_EQ(train(resumed, *o2, s2, opts).steps, 32);
  auto a = whole.params(), b = resumed.params();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(test::all_close(a[i], b[i], 1e-10, "parameter " + std::to_string(i)));
}

// DeviceStep against torch::optim's own Adam and AdamW, step by step, with a skipped step in the
// middle (nothing moves, the step count does not advance) and the counts written back.
TEST(DeviceStepCuda, MatchesTorchOptimAndSkipsOnTheDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  for (auto kind : {OptimizerKind::adam, OptimizerKind::adamw}) {
    SCOPED_TRACE(to_string(kind));
    OptimizerOptions oo;
    oo.kind = kind;
    oo.lr = 0.05;
    oo.weight_decay = 0.01;
    torch::manual_seed(2);
    auto w = torch::randn({5, 3}, torch::TensorOptions(torch::kDouble).device(cuda)).requires_grad_(true);
    auto b = torch::randn({5}, torch::TensorOptions(torch::kDouble).device(cuda)).requires_grad_(true);
    auto w2 = w.detach().clone().requires_grad_(true), b2 = b.detach().clone().requires_grad_(true);
    auto reference = make_optimizer({w, b}, oo);
    auto fused = make_optimizer({w2, b2}, oo);
    DeviceStep step(*fused);
    for (int k = 0; k < 5; ++k) {
      const bool skip = k == 2;
      auto g = torch::randn({5, 3}, w.options()), gb = torch::randn({5}, b.options());
      if (!skip) {
        w.mutable_grad() = g.clone();
        b.mutable_grad() = gb.clone();
        reference->step();
      }
      w2.mutable_grad() = g.clone();
      b2.mutable_grad() = gb.clone();
      step.step(torch::full({}, skip ? 1.0 : 0.0, torch::TensorOptions(torch::kFloat).device(cuda)));
      EXPECT_TRUE(test::all_close(w2, w, 1e-12, "w after step " + std::to_string(k)));
      EXPECT_TRUE(test::all_close(b2, b, 1e-12, "b after step " + std::to_string(k)));
    }
    step.write_back();
    // The optimiser's own state now says 4 steps; its own next step agrees with the reference.
    w.mutable_grad() = torch::ones_like(w);
    b.mutable_grad() = torch::ones_like(b);
    w2.mutable_grad() = torch::ones_like(w2);
    b2.mutable_grad() = torch::ones_like(b2);
    reference->step();
    fused->step();
    EXPECT_TRUE(test::all_close(w2, w, 1e-12, "torch::optim step after write_back"));
  }
  auto sgd = make_optimizer({torch::zeros({2}, torch::TensorOptions().device(cuda)).requires_grad_(true)},
                            OptimizerOptions{OptimizerKind::sgd, 0.1});
  EXPECT_FALSE(DeviceStep::supports(*sgd));
  auto cpu = make_optimizer({torch::zeros({2}).requires_grad_(true)}, OptimizerOptions{});
  EXPECT_FALSE(DeviceStep::supports(*cpu));
}

}  // namespace
}  // namespace seqtorch::train
