#pragma once
// The long-term dependency experiment (seed note §6-§7): a recurrent layer and a linear head
// learn one memory task (data/memory_tasks.h) at one span; the run records the loss curve, the
// steps it took to solve the task, the test loss against the memoryless baseline, and the norms
// ||dL/dh(t)|| over t at the start of training, where the vanishing of §6 shows.
#include <seqtorch/data/memory_tasks.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::lab {

/// The recurrent cells compared.
enum class MemoryCell {
  /// Elman RNN, h = tanh(.), PyTorch's uniform initialisation (the seed note's §3 RNN).
  rnn,
  /// Elman RNN with ReLU, W_hh = I, zero biases, W_ih ~ N(0, 0.001^2) (Le et al. 2015).
  irnn,
  /// LSTM; forget-gate bias as LongMemoryOptions::lstm_init says.
  lstm,
  /// GRU, PyTorch's initialisation.
  gru,
};
/// "rnn", "irnn", "lstm", "gru".
std::string to_string(MemoryCell cell);
/// Parses the names above; throws naming the valid ones otherwise.
MemoryCell parse_memory_cell(const std::string& name);
/// Whether `text` is a valid LongMemoryOptions::lstm_init: "chrono" or a finite number.
bool valid_lstm_init(const std::string& text);

/// One run of the experiment.
struct LongMemoryOptions {
  /// The benchmark and its span T.
  data::MemoryTask task = data::MemoryTask::adding;
  int64_t length = 100;
  /// The cell and its width H (one layer).
  MemoryCell cell = MemoryCell::lstm;
  int64_t hidden_size = 64;
  /// LSTM gate biases at the start: "chrono" (Tallec & Ollivier 2018: forget bias
  /// log(U(1, T - 1)) per unit, input bias its negative, so memory time scales cover the span
  /// T), or a number: every forget-gate bias set to it (1 is Gers et al.'s and Jozefowicz et
  /// al.'s advice), input biases PyTorch's.
  std::string lstm_init = "chrono";
  /// Sequences per Adam step, learning rate.
  int64_t batch_size = 32;
  double lr = 3e-3;
  /// Clip the global gradient norm to this (0: no clipping).
  double clip_grad = 1.0;
  /// Step budget; evaluation (on a validation set) every eval_every steps.
  int64_t max_steps = 3000;
  int64_t eval_every = 100;
  /// Stop at the first evaluation that counts as solved (saves time; steps_to_solve is the same).
  bool stop_when_solved = true;
  /// Solved: loss below this fraction of the baseline loss.
  double solved_fraction = 0.01;
  /// Sizes of the validation set (for the curve and the stop) and of the test set.
  int64_t val_size = 500;
  int64_t test_size = 1000;
  /// Seeds the initial weights, the training batches and the validation and test sets.
  uint64_t seed = 1;
  /// Sequences whose gradient norms are averaged at the start.
  int64_t gradient_batch = 64;
};

/// A point of the loss curve.
struct LossPoint {
  int64_t step = 0;
  /// Mean training loss since the previous point.
  double train_loss = 0;
  /// Validation loss.
  double val_loss = 0;
};

/// What a run gives.
struct LongMemoryResult {
  LongMemoryOptions options;
  /// The memoryless baseline (MemoryTaskShape::baseline_loss).
  double baseline_loss = 0;
  /// Loss and (classification tasks; NaN otherwise) accuracy on the test set, after training.
  double test_loss = 0, test_accuracy = 0;
  /// Whether the test loss is below solved_fraction * baseline_loss.
  bool solved = false;
  /// First evaluation step whose validation loss counted as solved; -1 if none.
  int64_t steps_to_solve = -1;
  /// Optimiser steps taken, steps skipped as non-finite, wall time (seconds), parameter count.
  int64_t steps = 0, skipped_steps = 0;
  double seconds = 0;
  int64_t parameters = 0;
  /// The loss curve, one point per evaluation.
  std::vector<LossPoint> curve;
  /// ||dL/dh(t)|| for t = 0..steps-1 at initialisation (L: the training loss on one batch of
  /// gradient_batch sequences), computed in float64.
  std::vector<double> gradient_norms;
};

/// Runs one experiment on the CPU with the calling thread's intra-op threads. Deterministic for
/// given options and thread count. Throws for invalid options, naming the field.
LongMemoryResult run_long_memory(const LongMemoryOptions& options);

}  // namespace seqtorch::lab

#include <functional>

namespace seqtorch::lab {

/// Runs every entry of `runs`, `jobs` at a time on as many threads (give each run one intra-op
/// thread, util::set_threads(1), when jobs > 1); `on_done` is called, one call at a time, as each
/// run finishes. Results in the order of `runs`; the first failure is rethrown after all stop.
std::vector<LongMemoryResult> run_long_memory_all(
    const std::vector<LongMemoryOptions>& runs, int jobs,
    const std::function<void(const LongMemoryResult&)>& on_done = {});

/// The results as a JSON array, one object per run: task, cell, length, clip_grad, seed,
/// hidden_size, parameters, baseline_loss, test_loss, test_accuracy (null for regression),
/// solved, steps_to_solve (null if never), steps, seconds; with `details` also `curve`
/// ([{step, train_loss, val_loss}]) and `gradient_norms`.
std::string long_memory_json(const std::vector<LongMemoryResult>& results, bool details);

/// The results as a text table, one line per run, with a header line.
std::string long_memory_table(const std::vector<LongMemoryResult>& results);

}  // namespace seqtorch::lab
