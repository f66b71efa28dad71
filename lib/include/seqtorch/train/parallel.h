#pragma once
// The data-parallel seam of the training engine, without the engine that fills it: which part of
// each global batch this process trains on (Shard), and what the processes agree on between a
// step's backward passes and its optimiser step (Parallel). train/distributed.h implements
// Parallel on PyTorch's c10d (Gloo, NCCL); a null Parallel is one process.
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seqtorch::train {

/// This process's place among `world_size` data-parallel processes. Tasks cut every global batch
/// (batch size per process x world size, in an order that is the same on every process) into
/// world_size parts and train on part `rank`: each example is seen once per epoch across ranks.
struct Shard {
  int rank = 0;
  int world_size = 1;
  /// Part `rank` of a global batch of n items: [begin, end), the parts as even as they can be
  /// (they differ by at most one item; a part is empty only when n < world_size).
  struct Range {
    int64_t begin = 0, end = 0;
    int64_t size() const { return end - begin; }
  };
  Range part(int64_t n) const;
  /// Throws unless 0 <= rank < world_size.
  void check() const;
};

/// What the processes agree on after each step's backward passes. In: this process's values; out:
/// those of the whole step, identical on every process.
struct StepAgreement {
  /// In: the mean loss over this process's items (ignored when items is 0); out: the mean over
  /// all processes' items (non-finite when any process's loss was).
  double loss = 0;
  /// In: this process's items; out: all processes'.
  int64_t items = 0;
  /// In: a signal this process received (0: none); out: the largest any process received.
  int signal = 0;
  /// In: this process ran out of its time budget; out: any process did.
  bool out_of_time = false;
};

/// Data-parallel processes as the engine sees them (null TrainerOptions::parallel: one process).
class Parallel {
 public:
  virtual ~Parallel() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  Shard shard() const { return {rank(), world_size()}; }
  /// Makes `tensors` (parameters, buffers, optimiser state) equal rank 0's on every process.
  virtual void broadcast_from_first(const std::vector<torch::Tensor>& tensors) = 0;
  /// The hook between backward and the optimiser step: replaces every gradient of `params` by
  /// the item-weighted mean of all processes' gradients (what one process would compute on the
  /// whole global batch), and fills in `step` (see StepAgreement).
  virtual void after_backward(const std::vector<torch::Tensor>& params, StepAgreement& step) = 0;
  /// The element-wise sums of `values` over the processes (the same on every process).
  virtual std::vector<double> all_sum(const std::vector<double>& values) = 0;
  /// Milliseconds spent in after_backward's collectives since the last call (for logs).
  virtual double take_communication_ms() = 0;
};

/// The mean of each metric over the processes, so that all of them take the same decisions
/// (best model, patience, plateau, stop_at). Every process must pass the same metric names.
std::map<std::string, double> agree_on_metrics(Parallel& parallel,
                                               const std::map<std::string, double>& metrics);

}  // namespace seqtorch::train
