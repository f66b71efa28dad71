#pragma once
// The long-term dependency benchmarks of the literature, generated in-process from a seed (same
// seed, same batch). Each has a "memoryless" baseline loss: what the best model that does not
// carry information across the span scores, so a loss far below it means the span was bridged.
//   adding          Hochreiter & Schmidhuber 1997 (exp. 4), Le et al. 2015: x(t) = (u(t), m(t)),
//                   u ~ U(0, 1), m marks two steps, one in each half; target: the sum of the two
//                   marked u. Regression, MSE; baseline: predicting the mean 1 gives Var = 1/6.
//   copy            Arjovsky et al. 2016: 10 symbols from {1..8}, T-1 blanks (0), a delimiter
//                   (9), 10 blanks; the target is blanks until the delimiter's echo, then the 10
//                   symbols. Per-step classification over 10 classes; baseline (blanks, then a
//                   uniform guess): 10 ln 8 / (T + 20) nats.
//   temporal-order  Hochreiter & Schmidhuber 1997 (exp. 6a): distractors a-d, a start symbol B and
//                   an end symbol E, and two relevant symbols (X or Y) at steps in [10%, 20%] and
//                   [50%, 60%] of T; the class is their order (XX, XY, YX, YY). Classification
//                   from the last step; baseline ln 4 nats.
// Shapes: T steps, B sequences; inputs are [T, B, I] float, targets as each task says.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::data {

/// Which benchmark.
enum class MemoryTask { adding, copy, temporal_order };
/// "adding", "copy", "temporal-order".
std::string to_string(MemoryTask task);
/// Parses the names above ("temporal_order" too); throws naming the valid ones otherwise.
MemoryTask parse_memory_task(const std::string& name);
/// All tasks, in the order above.
std::vector<MemoryTask> memory_tasks();

/// What a task's model must output and how it is scored.
struct MemoryTaskShape {
  /// Width I of x(t).
  int64_t input_size = 0;
  /// Width O of the output: 1 (adding), 10 (copy), 4 (temporal-order).
  int64_t output_size = 0;
  /// Steps of a sequence for span `length`: T + 20 for copy, T otherwise.
  int64_t steps = 0;
  /// Whether the loss is taken at every step (copy) or at the last one only.
  bool every_step = false;
  /// Whether targets are class indices (cross-entropy) rather than values (MSE).
  bool classification = false;
  /// The memoryless baseline loss (see above).
  double baseline_loss = 0;
};

/// The shape of `task` at span `length` (>= 2; temporal-order needs >= 10 so that its two
/// windows are distinct steps).
MemoryTaskShape memory_task_shape(MemoryTask task, int64_t length);

/// A batch of a memory task.
struct MemoryBatch {
  /// [steps, B, I] float32.
  torch::Tensor inputs;
  /// adding: [B] float32 sums; copy: [steps, B] int64 classes; temporal-order: [B] int64 classes.
  torch::Tensor targets;
};

/// B sequences of `task` at span `length`, drawn from `seed` alone, on the CPU.
MemoryBatch make_memory_batch(MemoryTask task, int64_t length, int64_t batch, uint64_t seed);

}  // namespace seqtorch::data
