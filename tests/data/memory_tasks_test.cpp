// The memory benchmarks: shapes, targets that follow the definitions, the memoryless baselines
// measured on data, and batches that depend on the seed alone.
#include <seqtorch/data/memory_tasks.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqtorch::data {
namespace {

TEST(MemoryTasks, AddingProblemMarksOneStepInEachHalfAndSumsThem) {
  const int64_t T = 40, B = 256;
  auto b = make_memory_batch(MemoryTask::adding, T, B, 7);
  ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{T, B, 2}));
  ASSERT_EQ(b.targets.sizes(), (std::vector<int64_t>{B}));
  torch::Tensor marks = b.inputs.select(2, 1);  // [T, B]
  EXPECT_TRUE(torch::equal(marks.narrow(0, 0, T / 2).sum(0), torch::ones({B})));
  EXPECT_TRUE(torch::equal(marks.narrow(0, T / 2, T / 2).sum(0), torch::ones({B})));
  EXPECT_TRUE(test::all_close(b.targets, (b.inputs.select(2, 0) * marks).sum(0), 1e-6));
  // Predicting the mean, 1, scores the stated baseline 1/6 (sampling error ~0.004 at B = 4096).
  auto big = make_memory_batch(MemoryTask::adding, T, 4096, 8);
  EXPECT_NEAR((big.targets - 1).pow(2).mean().item<double>(), memory_task_shape(MemoryTask::adding, T).baseline_loss, 0.015);
}

TEST(MemoryTasks, CopyTaskEchoesTheFirstTenSymbolsAfterTheDelimiter) {
  const int64_t T = 30, B = 8;
  const auto shape = memory_task_shape(MemoryTask::copy, T);
  EXPECT_EQ(shape.steps, T + 20);
  EXPECT_NEAR(shape.baseline_loss, 10 * std::log(8.0) / (T + 20), 1e-12);
  auto b = make_memory_batch(MemoryTask::copy, T, B, 3);
  ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{T + 20, B, 10}));
  ASSERT_EQ(b.targets.sizes(), (std::vector<int64_t>{T + 20, B}));
  torch::Tensor tokens = b.inputs.argmax(2);  // [T+20, B]
  torch::Tensor first = tokens.narrow(0, 0, 10);
  EXPECT_TRUE((first >= 1).all().item<bool>() && (first <= 8).all().item<bool>());
  EXPECT_TRUE(torch::equal(tokens[T + 9], torch::full({B}, 9, torch::kLong)));  // the delimiter
  EXPECT_EQ(tokens.narrow(0, 10, T - 1).sum().item<int64_t>(), 0);               // blanks
  EXPECT_EQ(tokens.narrow(0, T + 10, 10).sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(b.targets.narrow(0, T + 10, 10), first));
  EXPECT_EQ(b.targets.narrow(0, 0, T + 10).sum().item<int64_t>(), 0);
}

TEST(MemoryTasks, TemporalOrderClassIsTheOrderOfTheTwoRelevantSymbols) {
  const int64_t T = 100, B = 64;
  auto b = make_memory_batch(MemoryTask::temporal_order, T, B, 5);
  ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{T, B, 8}));
  torch::Tensor tokens = b.inputs.argmax(2);
  for (int64_t i = 0; i < B; ++i) {
    std::vector<int64_t> positions, symbols;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t s = tokens[t][i].item<int64_t>();
      if (s == 4 || s == 5) positions.push_back(t), symbols.push_back(s - 4);
    }
    ASSERT_EQ(positions.size(), 2u) << "sequence " << i;
    EXPECT_TRUE(positions[0] >= 10 && positions[0] <= 20) << positions[0];
    EXPECT_TRUE(positions[1] >= 50 && positions[1] <= 60) << positions[1];
    EXPECT_EQ(b.targets[i].item<int64_t>(), symbols[0] * 2 + symbols[1]);
    EXPECT_EQ(tokens[0][i].item<int64_t>(), 6);
    EXPECT_EQ(tokens[T - 1][i].item<int64_t>(), 7);
  }
}

TEST(MemoryTasks, SameSeedSameBatchOtherSeedOtherBatch) {
  for (MemoryTask task : memory_tasks()) {
    SCOPED_TRACE(to_string(task));
    auto a = make_memory_batch(task, 20, 16, 11), b = make_memory_batch(task, 20, 16, 11);
    auto c = make_memory_batch(task, 20, 16, 12);
    EXPECT_TRUE(torch::equal(a.inputs, b.inputs) && torch::equal(a.targets, b.targets));
    EXPECT_FALSE(torch::equal(a.inputs, c.inputs));
    EXPECT_EQ(parse_memory_task(to_string(task)), task);
  }
}

TEST(MemoryTasks, InvalidArgumentsAreNamed) {
  EXPECT_TRUE(test::throws_with([] { parse_memory_task("adder"); }, {"expected adding, copy or temporal-order", "'adder'"}));
  EXPECT_TRUE(test::throws_with([] { memory_task_shape(MemoryTask::temporal_order, 9); }, {"temporal-order task: length: expected >= 10, got 9"}));
  EXPECT_TRUE(test::throws_with([] { make_memory_batch(MemoryTask::adding, 10, 0, 1); }, {"batch: expected >= 1, got 0"}));
}

}  // namespace
}  // namespace seqtorch::data
