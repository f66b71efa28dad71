#include <seqtorch/data/recall_task.h>

#include <torch/torch.h>

namespace seqtorch::data {

RecallBatch make_recall_batch(const RecallTaskOptions& o, int64_t batch, uint64_t seed,
                              torch::Dtype dtype, torch::Device device) {
  TORCH_CHECK(o.symbols >= 2, "recall task: symbols: expected >= 2, got ", o.symbols);
  TORCH_CHECK(o.delay >= 0 && o.delay < o.length, "recall task: delay: expected in [0, length = ",
              o.length, "), got ", o.delay);
  TORCH_CHECK(batch >= 1, "recall task: batch: expected >= 1, got ", batch);
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor symbols = torch::randint(o.symbols, {o.length, batch}, gen, torch::kLong);
  RecallBatch out;
  out.inputs = torch::one_hot(symbols, o.symbols).to(dtype).to(device);
  out.targets = torch::full({o.length, batch}, -100, torch::kLong);
  out.targets.narrow(0, o.delay, o.length - o.delay)
      .copy_(symbols.narrow(0, 0, o.length - o.delay));
  out.targets = out.targets.to(device);
  return out;
}

}  // namespace seqtorch::data
