// Optimisers against steps computed by hand (float64), and schedules against their formulas.
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/schedule.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

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

// The one-pass step on float32 CPU parameters (OptimizerOptions::fused, the default) against
// torch::optim's own Adam and AdamW from the same start: parameters of several sizes (one large
// enough to be split over threads, one of 3 elements, one 2-D), one without a gradient, weight
// decay on and off, 20 steps on a loss whose gradient changes each step. Equal up to float
// rounding; the state is torch::optim's (its step count and moments), so a checkpoint of one
// loads into the other.
TEST(Optimizer, FusedAdamStepsEqualTorchOptim) {
  for (auto kind : {OptimizerKind::adam, OptimizerKind::adamw}) {
    for (double decay : {0.0, 0.05}) {
      SCOPED_TRACE(to_string(kind) + " weight decay " + std::to_string(decay));
      torch::manual_seed(7);
      const std::vector<torch::Tensor> start{torch::randn({100003}), torch::randn({3}), torch::randn({17, 33}),
                                             torch::randn({5})};
      auto make = [&](bool fused) {
        std::vector<torch::Tensor> ps;
        for (const auto& t : start) ps.push_back(t.clone().requires_grad_(true));
        OptimizerOptions o;
        o.kind = kind;
        o.lr = 0.01;
        o.weight_decay = decay;
        o.fused = fused;
        return std::make_pair(ps, make_optimizer(ps, o));
      };
      auto [fp, fused] = make(true);
      auto [rp, reference] = make(false);
      EXPECT_NE(dynamic_cast<torch::optim::Adam*>(fused.get()) != nullptr,
                dynamic_cast<torch::optim::AdamW*>(fused.get()) != nullptr);
      for (int step = 1; step <= 20; ++step) {
        for (auto* ps : {&fp, &rp}) {
          for (auto& p : *ps) p.mutable_grad() = torch::Tensor();
          torch::Tensor loss = torch::zeros({});
          for (size_t k = 0; k + 1 < ps->size(); ++k)  // the last parameter gets no gradient
            loss = loss + ((*ps)[k] * (*ps)[k] * (*ps)[k] * (*ps)[k]).sum() * (1.0 / step) + (*ps)[k].sum();
          loss.backward();
        }
        fused->step();
        reference->step();
      }
      for (size_t k = 0; k < fp.size(); ++k) {
        const double moved = (start[k] - rp[k]).abs().max().item<double>();
        EXPECT_TRUE(torch::allclose(fp[k], rp[k], 1e-5, 1e-6)) << "parameter " << k << ": largest difference "
            << (fp[k] - rp[k]).abs().max().item<double>() << ", moved " << moved;
        if (k + 1 < fp.size()) {
          EXPECT_GT(moved, 0.05) << k;
        } else {
          EXPECT_TRUE(torch::equal(fp[k], start[k]));  // no gradient: untouched
        }
      }
      // The state is torch::optim's: save the fused one's, load it into a plain one, step both.
      std::stringstream saved;
      {
        torch::serialize::OutputArchive archive;
        fused->save(archive);
        archive.save_to(saved);
      }
      torch::serialize::InputArchive archive;
      archive.load_from(saved);
      reference->load(archive);
      for (size_t k = 0; k < fp.size(); ++k) rp[k].detach().copy_(fp[k].detach());
      for (auto* ps : {&fp, &rp}) {
        for (auto& p : *ps) p.mutable_grad() = torch::ones_like(p);
      }
      fused->step();
      reference->step();
      for (size_t k = 0; k < fp.size(); ++k)
        EXPECT_TRUE(torch::allclose(fp[k], rp[k], 1e-6, 1e-7)) << "after the state's round trip, parameter " << k;
    }
  }
}

// Where the one-pass step does not apply (float64 parameters, amsgrad), torch::optim's runs.
TEST(Optimizer, FusedAdamFallsBackToTorchOptimElsewhere) {
  OptimizerOptions o;
  o.lr = 0.05;
  auto got = run(o, kP0, kA);  // float64: torch::optim's step, exact against the hand values
  double p = kP0[0], m = 0, v = 0;
  for (int s = 1; s <= 3; ++s) {
    const double g = kA[0] * p;
    m = o.beta1 * m + (1 - o.beta1) * g;
    v = o.beta2 * v + (1 - o.beta2) * g * g;
    p -= o.lr * (m / (1 - std::pow(o.beta1, s))) / (std::sqrt(v / (1 - std::pow(o.beta2, s))) + o.eps);
  }
  EXPECT_NEAR(got[2][0], p, 1e-12);
  auto w = torch::tensor({1.0f, -2.0f}).requires_grad_(true);
  auto opt = make_optimizer({w}, o);
  static_cast<torch::optim::AdamOptions&>(opt->param_groups()[0].options()).amsgrad(true);
  (w * w).sum().backward();
  opt->step();
  auto* adam = dynamic_cast<torch::optim::Adam*>(opt.get());
  ASSERT_NE(adam, nullptr);
  const auto& state = adam->state();
  ASSERT_EQ(state.size(), 1u);
  EXPECT_TRUE(static_cast<const torch::optim::AdamParamState&>(*state.begin()->second).max_exp_avg_sq().defined());
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
