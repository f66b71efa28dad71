#pragma once
// The training engine every app shares. The app supplies a TrainTask (its model, its batches,
// its loss and its validation metrics); the engine runs epochs, optimiser steps with gradient
// accumulation, the learning-rate schedule, clipping, non-finite-step handling, evaluation,
// best-model keeping, early stopping, checkpoints with exact resume, logs and progress.
#include <seqtorch/train/parallel.h>
#include <seqtorch/train/schedule.h>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace seqtorch::train {

/// One micro-batch's loss and how many items (samples or tokens) it covered.
struct StepLoss {
  /// Scalar loss, mean over the micro-batch's items.
  torch::Tensor loss;
  /// Items in the micro-batch, for the throughput figure.
  int64_t items = 0;
};

/// What TrainTask::static_loss returns.
struct StaticLoss {
  /// Scalar loss, mean over the micro-batch's items.
  torch::Tensor loss;
  /// Carried state: after the optimiser step the engine copies each `second` (this batch's final
  /// state) into `first` (the buffer the next batch reads), in place and without gradient.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> carry;
};

/// The tensors one micro-batch reads, for a step that may be captured in a CUDA graph.
struct StepInputs {
  /// On the model's device (e.g. tokens and targets). Steps whose tensors have the shapes and
  /// dtypes of the captured one replay the graph on copies of them.
  std::vector<torch::Tensor> tensors;
  /// Items in the micro-batch, for the throughput figure.
  int64_t items = 0;
};

/// What an app gives the engine.
class TrainTask {
 public:
  virtual ~TrainTask() = default;
  /// The model being trained (the engine switches train/eval mode and checkpoints it).
  virtual torch::nn::Module& model() = 0;
  /// Micro-batches per epoch.
  virtual int64_t batches_per_epoch() = 0;
  /// Called before the first micro-batch of each epoch, and before the first one after a resume
  /// (e.g. to reset carried recurrent state). Batch order must depend on (epoch, index) only,
  /// not on call history, for resume to be exact.
  virtual void start_epoch(int64_t /*epoch*/) {}
  /// Forward and loss of micro-batch `index` (0-based) of `epoch` (0-based). The engine runs
  /// backward. In data-parallel training (TrainerOptions::parallel) the micro-batch is this
  /// process's part of the global batch `index` (train::Shard); a part with no items returns
  /// items 0 and an undefined loss.
  virtual StepLoss train_loss(int64_t epoch, int64_t index) = 0;
  /// Validation metrics, run in eval mode without gradients. Must contain the metric the
  /// engine watches (TrainerOptions::metric).
  virtual std::map<std::string, double> evaluate() = 0;

  /// CUDA graph capture (TrainerOptions::cuda_graph). A task that allows it splits train_loss in
  /// two: step_inputs(epoch, index) returns the micro-batch's tensors, and static_loss(tensors)
  /// computes the loss from tensors of those shapes (the engine's static copies when the step
  /// is replayed), reading its carried state from buffers that keep their storage and naming in
  /// StaticLoss::carry what the engine copies into them after the step. It must not read tensors
  /// back to the host. When a run uses this split, every step goes through it (captured or
  /// not), so train_loss and static_loss may keep their carried state apart.
  virtual bool capturable() const { return false; }
  virtual StepInputs step_inputs(int64_t /*epoch*/, int64_t /*index*/) { return {}; }
  virtual StaticLoss static_loss(const std::vector<torch::Tensor>& /*tensors*/) { return {}; }
};

/// Options of the engine.
struct TrainerOptions {
  /// Epochs to run (in total, counting those before a resume).
  int64_t epochs = 10;
  /// Stop after this many optimiser steps (0: no limit).
  int64_t max_steps = 0;
  /// Stop after this much wall time in this process, seconds (0: no limit); then evaluate and save.
  double time_budget_s = 0;
  /// Evaluate every N optimiser steps (0: at the end of every epoch only).
  int64_t eval_every = 0;
  /// The validation metric that picks the best model and drives early stopping and plateau.
  std::string metric = "loss";
  /// Whether a lower metric is better.
  bool lower_is_better = true;
  /// Stop after this many evaluations without improvement (0: never stop early).
  int64_t patience = 0;
  /// Stop as soon as an evaluation's metric reaches this value (at or below it when lower is
  /// better, at or above otherwise); NaN: never.
  double stop_at = std::numeric_limits<double>::quiet_NaN();
  /// Clip the global gradient norm to this (0: off). The norm before clipping is logged.
  double clip_grad_norm = 0;
  /// Clamp each gradient element into [-v, v] (0: off).
  double clip_grad_value = 0;
  /// Micro-batches per optimiser step; their gradients are averaged.
  int64_t accumulation = 1;
  /// After this many consecutive non-finite steps (each skipped), fail with an error.
  int64_t max_bad_steps = 5;
  /// Decide each step's skip on the host even where it could be decided on the GPU. By default,
  /// with Adam or AdamW on CUDA (LibTorch 2.x) the step runs as one fused kernel that skips
  /// itself when the loss or gradient is not finite, and the host reads the step's loss and norm
  /// one step later (logs, counts and the max_bad_steps stop are the same, never later than the
  /// next step); elsewhere the host reads them at once. This forces the latter (slower on a GPU).
  bool synchronous_steps = false;
  /// On CUDA, with device-side steps (above) and a task that is capturable(), capture the whole
  /// training step (forward, backward, clipping, optimiser step, carried state) in a CUDA graph
  /// once a batch shape has run twice, and replay it for every later step of that shape (its
  /// inputs copied into static buffers): one launch per step instead of hundreds. Steps of other
  /// shapes (a short last batch), gradient accumulation, data-parallel runs and builds without
  /// CUDA graphs (LibTorch < 2.3 or without CUDA) run eagerly; a capture that fails is reported
  /// once (progress and metrics.jsonl) and the run goes on eagerly. False: never capture.
  bool cuda_graph = true;
  /// Write a training line to metrics.jsonl (and progress) every N optimiser steps.
  int64_t log_every = 10;
  /// Run folder: checkpoints/last.pt (written at the start of a fresh run, then at the end of
  /// every epoch and when stopped), checkpoints/best.pt, metrics.jsonl. Empty: write nothing.
  std::string out_dir;
  /// Stored in checkpoints: the app's name and the effective configuration.
  std::string app = "seqtorch";
  std::string config;
  /// Continue from out_dir/checkpoints/last.pt.
  bool resume = false;
  /// No progress output.
  bool quiet = false;
  /// When stderr is not a terminal (a log file, torchrun's prefixed output): at most one plain
  /// progress line per this many seconds, besides one per evaluation.
  double progress_every_s = 30;
  /// Data-parallel processes (train/distributed.h), or null: this process alone. With them, rank
  /// 0's parameters are broadcast at the start; after each step's backward passes the hook
  /// (Parallel::after_backward) averages the gradients over the processes, weighted by items, and
  /// the processes agree on the loss, on skipping a non-finite step and on stopping (signal, time
  /// budget); validation metrics are averaged, so every process picks the same best model and stops
  /// at the same step. Only rank 0 writes (checkpoints, metrics.jsonl, progress); on resume every
  /// rank reads out_dir/checkpoints/last.pt. Steps are decided on the host (synchronous_steps).
  Parallel* parallel = nullptr;
  /// What StepLoss::items counts: "samples" or "tokens" (names the rate field, e.g. tokens_per_s).
  std::string items_name = "samples";
};

/// How a run ended.
struct TrainResult {
  /// Epochs completed and optimiser steps taken (in total, across resumes).
  int64_t epochs = 0, steps = 0;
  /// Best value of the watched metric and all metrics of that evaluation.
  double best_metric = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, double> best_metrics;
  /// Metrics of the last evaluation.
  std::map<std::string, double> last_metrics;
  /// Steps skipped for a non-finite loss or gradient (in total, across resumes).
  int64_t skipped_steps = 0;
  /// Ended by patience or by reaching stop_at, by the time budget, or by a signal (then `signal`
  /// is its number).
  bool stopped_early = false, out_of_time = false;
  /// An evaluation reached TrainerOptions::stop_at (and the run stopped there).
  bool reached_target = false;
  int signal = 0;
  /// Wall time of the call, and of the training steps alone (without evaluations and
  /// checkpoints), seconds.
  double elapsed_s = 0, step_seconds = 0;
  /// Items (StepLoss::items) trained on by this call, by all data-parallel processes together:
  /// items / step_seconds is the throughput.
  int64_t items = 0;
  /// Optimiser steps of this call that ran as replays of a captured CUDA graph.
  int64_t graph_steps = 0;
};

/// Trains `task` with `optimizer` under `schedule`. Evaluates (and checkpoints) as the options
/// say; on SIGINT/SIGTERM (util/stop_signal.h, installed by the caller) finishes the current step,
/// writes last.pt and returns with `signal` set. Throws (last.pt untouched) after too many
/// consecutive non-finite steps.
TrainResult train(TrainTask& task, torch::optim::Optimizer& optimizer, LrSchedule& schedule,
                  const TrainerOptions& options);

}  // namespace seqtorch::train
