#include <seqtorch/data/memory_tasks.h>

#include <torch/torch.h>

#include <cmath>

namespace seqtorch::data {

std::string to_string(MemoryTask task) {
  switch (task) {
    case MemoryTask::adding: return "adding";
    case MemoryTask::copy: return "copy";
    case MemoryTask::temporal_order: return "temporal-order";
  }
  return "?";
}

MemoryTask parse_memory_task(const std::string& name) {
  if (name == "adding") return MemoryTask::adding;
  if (name == "copy") return MemoryTask::copy;
  if (name == "temporal-order" || name == "temporal_order") return MemoryTask::temporal_order;
  TORCH_CHECK(false, "memory task: expected adding, copy or temporal-order, got '", name, "'");
}

std::vector<MemoryTask> memory_tasks() {
  return {MemoryTask::adding, MemoryTask::copy, MemoryTask::temporal_order};
}

namespace {
constexpr int64_t kCopySymbols = 10;  // copied symbols, as in Arjovsky et al.
constexpr int64_t kMinLength[] = {2, 2, 10};
}  // namespace

MemoryTaskShape memory_task_shape(MemoryTask task, int64_t length) {
  const int64_t min_length = kMinLength[static_cast<int>(task)];
  TORCH_CHECK(length >= min_length, to_string(task), " task: length: expected >= ", min_length,
              ", got ", length);
  MemoryTaskShape s;
  switch (task) {
    case MemoryTask::adding:
      s.input_size = 2, s.output_size = 1, s.steps = length;
      s.baseline_loss = 1.0 / 6.0;  // Var(u1 + u2), u ~ U(0, 1)
      break;
    case MemoryTask::copy:
      s.input_size = 10, s.output_size = 10, s.steps = length + 2 * kCopySymbols;
      s.every_step = true, s.classification = true;
      s.baseline_loss = kCopySymbols * std::log(8.0) / static_cast<double>(s.steps);
      break;
    case MemoryTask::temporal_order:
      s.input_size = 8, s.output_size = 4, s.steps = length;
      s.classification = true;
      s.baseline_loss = std::log(4.0);
      break;
  }
  return s;
}

MemoryBatch make_memory_batch(MemoryTask task, int64_t length, int64_t batch, uint64_t seed) {
  const MemoryTaskShape s = memory_task_shape(task, length);
  TORCH_CHECK(batch >= 1, to_string(task), " task: batch: expected >= 1, got ", batch);
  auto gen = at::detail::createCPUGenerator(seed);
  const int64_t T = s.steps, B = batch;
  MemoryBatch out;
  if (task == MemoryTask::adding) {
    torch::Tensor u = torch::rand({T, B}, gen);
    const int64_t half = T / 2;
    torch::Tensor first = torch::randint(0, half, {B}, gen, torch::kLong);
    torch::Tensor second = torch::randint(half, T, {B}, gen, torch::kLong);
    torch::Tensor marks = torch::zeros({T, B});
    torch::Tensor cols = torch::arange(B);
    marks.index_put_({first, cols}, 1.0);
    marks.index_put_({second, cols}, 1.0);
    out.inputs = torch::stack({u, marks}, 2);
    out.targets = (u * marks).sum(0);
  } else if (task == MemoryTask::copy) {
    torch::Tensor tokens = torch::zeros({T, B}, torch::kLong);
    torch::Tensor symbols = torch::randint(1, 9, {kCopySymbols, B}, gen, torch::kLong);
    tokens.narrow(0, 0, kCopySymbols).copy_(symbols);
    tokens[length + kCopySymbols - 1].fill_(9);
    out.inputs = torch::one_hot(tokens, s.input_size).to(torch::kFloat32);
    out.targets = torch::zeros({T, B}, torch::kLong);
    out.targets.narrow(0, T - kCopySymbols, kCopySymbols).copy_(symbols);
  } else {
    // a-d = 0..3 distractors, X = 4, Y = 5, B = 6 (start), E = 7 (end).
    torch::Tensor tokens = torch::randint(0, 4, {T, B}, gen, torch::kLong);
    tokens[0].fill_(6);
    tokens[T - 1].fill_(7);
    auto window = [&](double lo, double hi) {
      const int64_t a = static_cast<int64_t>(std::ceil(lo * static_cast<double>(T)));
      const int64_t b = std::max(a, static_cast<int64_t>(std::floor(hi * static_cast<double>(T))));
      return torch::randint(a, b + 1, {B}, gen, torch::kLong);
    };
    torch::Tensor t1 = window(0.1, 0.2), t2 = window(0.5, 0.6);
    torch::Tensor y1 = torch::randint(0, 2, {B}, gen, torch::kLong);
    torch::Tensor y2 = torch::randint(0, 2, {B}, gen, torch::kLong);
    torch::Tensor cols = torch::arange(B);
    tokens.index_put_({t1, cols}, y1 + 4);
    tokens.index_put_({t2, cols}, y2 + 4);
    out.inputs = torch::one_hot(tokens, s.input_size).to(torch::kFloat32);
    out.targets = y1 * 2 + y2;
  }
  return out;
}

}  // namespace seqtorch::data
