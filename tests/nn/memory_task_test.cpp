// Each model learns the delayed-recall task (recall the symbol seen 3 steps earlier, 4 symbols,
// chance = ln 4 = 1.386 nats) to a stated loss within a capped number of Adam steps.
#include <seqtorch/data/recall_task.h>
#include <seqtorch/nn/elman_rnn.h>
#include <seqtorch/nn/sequence_shapes.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

namespace seqtorch::nn {
namespace {

constexpr int64_t kSteps = 400;       // cap on optimiser steps
constexpr double kTargetLoss = 0.05;  // cross-entropy on a held-out batch, nats

const data::RecallTaskOptions kTask{4, 3, 12};

// Trains `forward` (inputs [T, B, K] -> logits [T, B, K]) and returns the held-out loss at the
// first step it falls under the target (or after the cap), with the step it took.
std::pair<double, int64_t> train(torch::nn::Module& model,
                                 const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(1e-2));
  const auto held_out = data::make_recall_batch(kTask, 256, /*seed=*/12345);
  auto loss_of = [&](const data::RecallBatch& b) {
    return torch::nn::functional::cross_entropy(forward(b.inputs).reshape({-1, kTask.symbols}),
                                                b.targets.reshape({-1}));
  };
  double held = 0;
  for (int64_t step = 1; step <= kSteps; ++step) {
    auto batch = data::make_recall_batch(kTask, 32, step);
    opt.zero_grad();
    loss_of(batch).backward();
    opt.step();
    if (step % 20 == 0) {
      torch::NoGradGuard no_grad;
      held = loss_of(held_out).item<double>();
      if (held < kTargetLoss) return {held, step};
    }
  }
  return {held, kSteps};
}

TEST(MemoryTask, ElmanRNNLearnsToRecall) {
  torch::manual_seed(1);
  ElmanRNN m(ElmanRNNOptions(kTask.symbols, 32, kTask.symbols));
  auto [loss, steps] = train(*m, [&](const torch::Tensor& x) { return m->forward(x).output; });
  EXPECT_LT(loss, kTargetLoss) << "after " << steps << " steps";
}

TEST(MemoryTask, EachCellKindLearnsToRecall) {
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru}) {
    SCOPED_TRACE(to_string(cell));
    torch::manual_seed(1);
    ManyToMany m(RecurrentOptions(kTask.symbols, 32).cell(cell), kTask.symbols);
    auto [loss, steps] = train(*m, [&](const torch::Tensor& x) { return m->forward(x).output; });
    EXPECT_LT(loss, kTargetLoss) << "after " << steps << " steps";
  }
}

TEST(RecallTask, TargetsAreTheInputsDelayed) {
  auto b = data::make_recall_batch(kTask, 5, 7);
  EXPECT_EQ(b.inputs.sizes(), torch::IntArrayRef({12, 5, 4}));
  auto symbols = b.inputs.argmax(2);
  EXPECT_TRUE(torch::equal(b.targets.narrow(0, 3, 9), symbols.narrow(0, 0, 9)));
  EXPECT_TRUE((b.targets.narrow(0, 0, 3) == -100).all().item<bool>());
  EXPECT_TRUE(torch::equal(b.inputs, data::make_recall_batch(kTask, 5, 7).inputs)) << "same seed";
  EXPECT_FALSE(torch::equal(b.inputs, data::make_recall_batch(kTask, 5, 8).inputs));
}

}  // namespace
}  // namespace seqtorch::nn
