// The long-memory experiment on short spans (seconds): it learns what it should, records what it
// promises (curve, gradient norms, steps to solve), is repeatable with its seed, gives the same
// result run beside others, and the gradient picture shows the tanh RNN's vanishing.
#include <seqtorch/lab/long_memory.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace seqtorch::lab {
namespace {

LongMemoryOptions small(MemoryCell cell, int64_t length) {
  LongMemoryOptions o;
  o.task = data::MemoryTask::adding;
  o.length = length;
  o.cell = cell;
  o.hidden_size = 32;
  o.batch_size = 32;
  o.lr = 1e-2;
  o.max_steps = 600;
  o.eval_every = 50;
  o.val_size = 200;
  o.test_size = 300;
  return o;
}

TEST(LongMemory, LstmSolvesAShortAddingProblemAndRecordsItsRun) {
  const auto r = run_long_memory(small(MemoryCell::lstm, 10));
  EXPECT_TRUE(r.solved) << "test loss " << r.test_loss << " baseline " << r.baseline_loss;
  EXPECT_GT(r.steps_to_solve, 0);
  EXPECT_EQ(r.steps, r.steps_to_solve);  // stopped at the first solved evaluation
  ASSERT_FALSE(r.curve.empty());
  EXPECT_EQ(r.curve.front().step, 50);
  EXPECT_LT(r.curve.back().val_loss, 0.01 * r.baseline_loss);
  EXPECT_EQ(r.gradient_norms.size(), 10u);
  EXPECT_TRUE(std::isnan(r.test_accuracy));  // regression
  EXPECT_EQ(r.parameters, 4 * 32 * (2 + 32 + 2) + 32 + 1);
}

TEST(LongMemory, SameOptionsSameResultAloneOrBesideOthers) {
  auto a = small(MemoryCell::gru, 12), b = small(MemoryCell::rnn, 12);
  a.max_steps = b.max_steps = 100;
  a.stop_when_solved = b.stop_when_solved = false;
  const auto alone = run_long_memory(a);
  const auto both = run_long_memory_all({b, a}, 2);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].options.cell, MemoryCell::gru);
  EXPECT_EQ(both[1].test_loss, alone.test_loss);
  EXPECT_EQ(both[1].gradient_norms, alone.gradient_norms);
  auto c = a;
  c.seed = 2;
  EXPECT_NE(run_long_memory(c).test_loss, alone.test_loss);
}

TEST(LongMemory, TanhRnnGradientVanishesOverTheSpanAndLstmKeepsMoreOfIt) {
  // ||dL/dh(0)|| / ||dL/dh(T-1)|| at initialisation, loss at the last step only.
  auto ratio = [](MemoryCell cell) {
    auto o = small(cell, 60);
    o.max_steps = 1;
    o.eval_every = 1;
    const auto r = run_long_memory(o);
    return r.gradient_norms.front() / r.gradient_norms.back();
  };
  const double rnn = ratio(MemoryCell::rnn), lstm = ratio(MemoryCell::lstm);
  EXPECT_LT(rnn, 1e-6);
  EXPECT_GT(lstm, rnn * 1e3);
}

TEST(LongMemory, ClassificationTasksReportAccuracyAndJsonHasTheRows) {
  auto o = small(MemoryCell::lstm, 12);
  o.task = data::MemoryTask::temporal_order;
  o.max_steps = 50;
  o.stop_when_solved = false;
  auto r = run_long_memory(o);
  EXPECT_GE(r.test_accuracy, 0.0);
  EXPECT_LE(r.test_accuracy, 1.0);
  auto rows = nlohmann::json::parse(long_memory_json({r}, false));
  ASSERT_EQ(rows.size(), 1u);
  for (const char* key : {"task", "cell", "length", "test_loss", "baseline_loss", "solved", "steps_to_solve"})
    EXPECT_TRUE(rows[0].contains(key)) << key;
  EXPECT_EQ(rows[0]["task"], "temporal-order");
  EXPECT_FALSE(rows[0].contains("curve"));
  auto details = nlohmann::json::parse(long_memory_json({r}, true));
  EXPECT_EQ(details[0]["gradient_norms"].size(), 12u);
  EXPECT_NE(long_memory_table({r}).find("temporal-order"), std::string::npos);
}

TEST(LongMemory, InvalidOptionsAreNamed) {
  auto o = small(MemoryCell::lstm, 10);
  o.lr = 0;
  EXPECT_TRUE(test::throws_with([&] { run_long_memory(o); }, {"long-memory: lr: expected > 0, got 0"}));
  o.lr = 1e-3;
  o.lstm_init = "1x";
  EXPECT_TRUE(test::throws_with([&] { run_long_memory(o); }, {"lstm_init: expected chrono or a number, got '1x'"}));
  EXPECT_TRUE(valid_lstm_init("chrono") && valid_lstm_init("1") && valid_lstm_init("-2.5"));
  EXPECT_FALSE(valid_lstm_init("") || valid_lstm_init("inf") || valid_lstm_init("1 "));
  EXPECT_TRUE(test::throws_with([] { parse_memory_cell("lstn"); }, {"expected rnn, irnn, lstm or gru, got 'lstn'"}));
}

}  // namespace
}  // namespace seqtorch::lab
