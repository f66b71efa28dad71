// Optimisers against steps computed by hand (float64), and schedules against their formulas.
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/schedule.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqtorch::train {
namespace {

// Three steps on loss = sum(a * p^2 / 2) (gradient a * p) from p0; returns p after each step.
std::vector<std::vector<double>> run(const OptimizerOptions& o, std::vector<double> p0,
                                     std::vector<double> a) {
  auto p = torch::tensor(p0, torch::kDouble).requires_grad_(true);
  auto at = torch::tensor(a, torch::kDouble);
  auto opt = make_optimizer({p}, o);
  std::vector<std::vector<double>> out;
  for (int s = 0; s < 3; ++s) {
    opt->zero_grad();
    (at * p * p / 2).sum().backward();
    opt->step();
    out.emplace_back(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  }
  return out;
}

const std::vector<double> kP0{1.0, -2.0}, kA{1.0, 3.0};

TEST(Optimizer, SgdNesterovWithWeightDecayMatchesHand) {
  OptimizerOptions o{OptimizerKind::sgd, 0.1, 0.01, 0.9, true};
  auto got = run(o, kP0, kA);
  for (size_t i = 0; i < kP0.size(); ++i) {
    double p = kP0[i], buf = 0;
    for (int s = 0; s < 3; ++s) {
      double g = kA[i] * p + o.weight_decay * p;
      buf = s == 0 ? g : o.momentum * buf + g;
      p -= o.lr * (g + o.momentum * buf);
      EXPECT_NEAR(got[s][i], p, 1e-12) << "step " << s << " element " << i;
    }
  }
}

TEST(Optimizer, AdamAndAdamWMatchHand) {
  for (auto kind : {OptimizerKind::adam, OptimizerKind::adamw}) {
    OptimizerOptions o;
    o.kind = kind;
    o.lr = 0.05;
    o.weight_decay = 0.1;
    auto got = run(o, kP0, kA);
    for (size_t i = 0; i < kP0.size(); ++i) {
      double p = kP0[i], m = 0, v = 0;
      for (int s = 1; s <= 3; ++s) {
        double g = kA[i] * p;
        if (kind == OptimizerKind::adam) g += o.weight_decay * p;  // L2 in the gradient
        else p *= 1 - o.lr * o.weight_decay;                      // decoupled decay
        m = o.beta1 * m + (1 - o.beta1) * g;
        v = o.beta2 * v + (1 - o.beta2) * g * g;
        const double mh = m / (1 - std::pow(o.beta1, s)), vh = v / (1 - std::pow(o.beta2, s));
        p -= o.lr * mh / (std::sqrt(vh) + o.eps);
        EXPECT_NEAR(got[s - 1][i], p, 1e-12) << to_string(kind) << " step " << s;
      }
    }
  }
}

TEST(Optimizer, RmspropMatchesHand) {
  OptimizerOptions o;
  o.kind = OptimizerKind::rmsprop;
  o.lr = 0.01;
  o.weight_decay = 0.05;
  auto got = run(o, kP0, kA);
  for (size_t i = 0; i < kP0.size(); ++i) {
    double p = kP0[i], v = 0;
    for (int s = 0; s < 3; ++s) {
      double g = kA[i] * p + o.weight_decay * p;
      v = o.alpha * v + (1 - o.alpha) * g * g;
      p -= o.lr * g / (std::sqrt(v) + o.eps);
      EXPECT_NEAR(got[s][i], p, 1e-12) << "step " << s;
    }
  }
}

TEST(Optimizer, BadOptionsAndLearningRate) {
  auto p = torch::zeros({2}, torch::requires_grad());
  OptimizerOptions o{OptimizerKind::sgd, 0.1, 0, 0, true};
  EXPECT_TRUE(test::throws_with([&] { make_optimizer({p}, o); }, {"nesterov", "momentum"}));
  o.lr = -1;
  EXPECT_TRUE(test::throws_with([&] { make_optimizer({p}, o); }, {"lr", ">= 0", "-1"}));
  EXPECT_TRUE(test::throws_with([] { parse_optimizer_kind("adamx"); }, {"sgd, adam", "adamx"}));
  auto opt = make_optimizer({p}, OptimizerOptions{});
  set_learning_rate(*opt, 0.25);
  EXPECT_EQ(learning_rate(*opt), 0.25);
}

TEST(Schedule, FormulasByHand) {
  ScheduleOptions o;
  o.kind = ScheduleKind::step;
  o.step_size = 10;
  o.gamma = 0.5;
  LrSchedule step(1.0, o);
  EXPECT_DOUBLE_EQ(step.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(step.lr(10), 0.5);
  EXPECT_DOUBLE_EQ(step.lr(25), 0.25);
  o.kind = ScheduleKind::exponential;
  o.gamma = 0.9;
  EXPECT_DOUBLE_EQ(LrSchedule(2.0, o).lr(3), 2.0 * 0.9 * 0.9 * 0.9);
  o = ScheduleOptions{};
  o.kind = ScheduleKind::cosine;
  o.warmup_steps = 10;
  o.total_steps = 110;
  o.min_lr = 0.1;
  LrSchedule cos(1.1, o);
  EXPECT_DOUBLE_EQ(cos.lr(0), 1.1 / 10);   // warm-up: (s + 1) / warmup of the base rate
  EXPECT_DOUBLE_EQ(cos.lr(4), 1.1 * 5 / 10);
  EXPECT_DOUBLE_EQ(cos.lr(10), 1.1);
  EXPECT_NEAR(cos.lr(60), 0.1 + 1.0 * 0.5, 1e-12);  // half way: mean of base and min
  EXPECT_NEAR(cos.lr(110), 0.1, 1e-12);
  EXPECT_NEAR(cos.lr(500), 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(LrSchedule(0.3, ScheduleOptions{}).lr(12345), 0.3);
}

TEST(Schedule, PlateauCutsAfterPatienceAndRoundTrips) {
  ScheduleOptions o;
  o.kind = ScheduleKind::plateau;
  o.patience = 2;
  o.factor = 0.1;
  LrSchedule s(1.0, o);
  for (double m : {5.0, 4.0, 4.0, 4.0}) s.observe(m);  // 2 evaluations without gain: no cut yet
  EXPECT_DOUBLE_EQ(s.lr(0), 1.0);
  s.observe(4.0);  // the third: cut
  EXPECT_NEAR(s.lr(0), 0.1, 1e-15);
  LrSchedule copy(1.0, o);
  copy.load_state(s.state());
  EXPECT_DOUBLE_EQ(copy.lr(7), s.lr(7));
  s.observe(3.0);
  for (int i = 0; i < 3; ++i) s.observe(3.5);
  EXPECT_NEAR(s.lr(0), 0.01, 1e-15);
  o.lower_is_better = false;  // accuracy-like metric
  LrSchedule up(1.0, o);
  for (double m : {0.5, 0.6, 0.7, 0.8}) up.observe(m);
  EXPECT_DOUBLE_EQ(up.lr(0), 1.0);
}

TEST(Schedule, BadOptions) {
  ScheduleOptions o;
  o.kind = ScheduleKind::cosine;
  EXPECT_TRUE(test::throws_with([&] { LrSchedule(1.0, o); }, {"total_steps", "got 0"}));
  EXPECT_TRUE(test::throws_with([] { parse_schedule_kind("linear"); }, {"cosine", "linear"}));
}

}  // namespace
}  // namespace seqtorch::train
