#include <seqtorch/train/parallel.h>

#include <c10/util/Exception.h>

#include <cmath>

namespace seqtorch::train {

Shard::Range Shard::part(int64_t n) const {
  TORCH_CHECK(n >= 0, "Shard::part: n: expected >= 0, got ", n);
  return {n * rank / world_size, n * (rank + 1) / world_size};
}

void Shard::check() const {
  TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size,
              "data-parallel shard: expected 0 <= rank < world size, got rank ", rank,
              " of world size ", world_size);
}

std::map<std::string, double> agree_on_metrics(Parallel& parallel,
                                               const std::map<std::string, double>& metrics) {
  if (parallel.world_size() == 1) return metrics;
  // The count first: processes with different metric sets would otherwise sum mismatched
  // vectors (or wait forever for each other).
  const double n = static_cast<double>(metrics.size());
  const double total = parallel.all_sum({n})[0];
  TORCH_CHECK(total == n * parallel.world_size(), "data-parallel: rank ", parallel.rank(),
              " has ", metrics.size(), " validation metrics, other ranks a different number");
  std::vector<double> values;
  for (const auto& [name, value] : metrics) values.push_back(value);
  const auto sums = parallel.all_sum(values);
  std::map<std::string, double> out;
  size_t i = 0;
  for (const auto& [name, value] : metrics) out[name] = sums[i++] / parallel.world_size();
  return out;
}

}  // namespace seqtorch::train
