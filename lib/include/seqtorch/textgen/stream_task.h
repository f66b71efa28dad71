#pragma once
// Character-LM training for the engine (the char-rnn / word_language_model scheme): the training
// text cut into B parallel contiguous streams, read in chunks of T steps, the state carried from
// one chunk to the next and detached (truncated BPTT). Validation: bits per character.
#include <seqtorch/textgen/char_model.h>
#include <seqtorch/train/trainer.h>

namespace seqtorch::textgen {

class StreamTask : public train::TrainTask {
 public:
  /// train_ids, val_ids: [N] int64; batch_size: streams per process. The text is cut into
  /// batch_size x shard.world_size streams, of which this process reads its batch_size
  /// (shard.rank's). Throws if the training text is shorter than one batch of sequences of all
  /// processes (B * world size * (T + 1) symbols).
  StreamTask(CharModel model, const torch::Tensor& train_ids, torch::Tensor val_ids,
             int64_t batch_size, int64_t seq_len, torch::Device device, train::Shard shard = {});
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override;
  /// Resets the carried state: each epoch starts the streams afresh.
  void start_epoch(int64_t epoch) override;
  train::StepLoss train_loss(int64_t epoch, int64_t index) override;
  /// The step as a CUDA graph can capture it (TrainTask::capturable): inputs {tokens [T, B],
  /// targets [T, B]}; the carried state lives in buffers of its own (zeroed at each epoch's
  /// start), which the engine refreshes from StaticLoss::carry after each step.
  bool capturable() const override { return true; }
  train::StepInputs step_inputs(int64_t epoch, int64_t index) override;
  train::StaticLoss static_loss(const std::vector<torch::Tensor>& tensors) override;
  /// {"loss" (nats), "bits_per_char", "perplexity"} on the validation text.
  std::map<std::string, double> evaluate() override;
  /// The carried state (for tests).
  const nn::RecurrentState& state() const { return state_; }

 private:
  CharModel model_;
  torch::Tensor data_, val_;  // data_ [B, n] on the device
  int64_t seq_len_;
  torch::Device device_;
  nn::RecurrentState state_;
  nn::RecurrentState static_state_;  // static_loss's carried state: fixed storage once made
};

}  // namespace seqtorch::textgen
