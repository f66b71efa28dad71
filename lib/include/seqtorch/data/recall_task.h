#pragma once
// The delayed-recall memory task: at every step the input is one of K symbols (one-hot), and the
// target is the symbol seen `delay` steps earlier. A model can only solve it by carrying the
// last `delay` symbols in its state, so it measures memory; chance level is ln K nats.
#include <torch/types.h>

#include <cstdint>

namespace seqtorch::data {

/// Options of the recall task.
struct RecallTaskOptions {
  /// Number K of symbols.
  int64_t symbols = 4;
  /// How many steps back the target looks.
  int64_t delay = 3;
  /// Sequence length T (must exceed delay).
  int64_t length = 12;
};

/// A batch of the recall task.
struct RecallBatch {
  /// One-hot symbols [T, B, K].
  torch::Tensor inputs;
  /// Symbol to recall [T, B] (int64); -100 (cross_entropy's ignore index) where t < delay.
  torch::Tensor targets;
};

/// A batch of B sequences drawn from `seed` alone (same seed, same batch), in `dtype` on `device`.
RecallBatch make_recall_batch(const RecallTaskOptions& options, int64_t batch, uint64_t seed,
                              torch::Dtype dtype = torch::kFloat32,
                              torch::Device device = torch::kCPU);

}  // namespace seqtorch::data
