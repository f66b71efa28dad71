#include <seqtorch/textgen/stream_task.h>
#include <seqtorch/train/tbptt.h>

#include <torch/torch.h>

#include <cmath>

namespace seqtorch::textgen {

StreamTask::StreamTask(CharModel model, const torch::Tensor& train_ids, torch::Tensor val_ids,
                       int64_t batch_size, int64_t seq_len, torch::Device device, train::Shard shard)
    : model_(std::move(model)), val_(std::move(val_ids)), seq_len_(seq_len), device_(device) {
  TORCH_CHECK(seq_len >= 1, "seq-len: expected >= 1, got ", seq_len);
  TORCH_CHECK(batch_size >= 1, "batch-size: expected >= 1, got ", batch_size);
  shard.check();
  const int64_t streams = batch_size * shard.world_size;
  TORCH_CHECK(train_ids.numel() >= streams * (seq_len + 1), "the training text has ",
              train_ids.numel(), " symbols, fewer than one batch of sequences (batch-size ",
              batch_size, (shard.world_size > 1 ? " x " + std::to_string(shard.world_size) + " processes" : std::string()),
              " x (seq-len ", seq_len, " + 1) = ", streams * (seq_len + 1), ")");
  TORCH_CHECK(val_.numel() >= 2, "the validation text has ", val_.numel(),
              " symbols; raise --val-fraction or give a longer text");
  // All processes' streams, then this process's rows of them.
  data_ = data::batchify(train_ids, streams).narrow(0, shard.rank * batch_size, batch_size).to(device);
}

int64_t StreamTask::batches_per_epoch() { return (data_.size(1) - 1 + seq_len_ - 1) / seq_len_; }

void StreamTask::start_epoch(int64_t) {
  state_ = {};
  torch::NoGradGuard no_grad;  // the buffers keep their storage (a captured step reads them)
  if (static_state_.h.defined()) static_state_.h.zero_();
  if (static_state_.c.defined()) static_state_.c.zero_();
}

train::StepLoss StreamTask::train_loss(int64_t, int64_t index) {
  const int64_t start = index * seq_len_;
  const int64_t t = std::min(seq_len_, data_.size(1) - 1 - start);
  auto x = data_.narrow(1, start, t).t(), y = data_.narrow(1, start + 1, t).t();  // [T, B]
  auto out = model_->forward(x, state_);
  state_ = train::detach_state(out.state);  // values continue, gradients stop
  auto loss = torch::nn::functional::cross_entropy(out.logits.reshape({-1, out.logits.size(2)}), y.reshape({-1}));
  return {loss, x.numel()};
}

train::StepInputs StreamTask::step_inputs(int64_t, int64_t index) {
  const int64_t start = index * seq_len_;
  const int64_t t = std::min(seq_len_, data_.size(1) - 1 - start);
  auto x = data_.narrow(1, start, t).t(), y = data_.narrow(1, start + 1, t).t();  // [T, B]
  return {{x, y}, x.numel()};
}

train::StaticLoss StreamTask::static_loss(const std::vector<torch::Tensor>& tensors) {
  TORCH_CHECK(tensors.size() == 2, "StreamTask::static_loss: expected {tokens, targets}");
  const auto& x = tensors[0];
  const auto& y = tensors[1];
  auto out = model_->forward(x, static_state_);  // before the first step: no state (zeros)
  auto loss = torch::nn::functional::cross_entropy(out.logits.reshape({-1, out.logits.size(2)}),
                                                   y.reshape({-1}));
  if (!static_state_.h.defined()) {  // the first step (never a captured one) makes the buffers
    torch::NoGradGuard no_grad;
    static_state_.h = torch::zeros_like(out.state.h);
    if (out.state.c.defined()) static_state_.c = torch::zeros_like(out.state.c);
  }
  train::StaticLoss r{loss, {}};
  r.carry.emplace_back(static_state_.h, out.state.h);
  if (out.state.c.defined()) r.carry.emplace_back(static_state_.c, out.state.c);
  return r;
}

std::map<std::string, double> StreamTask::evaluate() {
  const TextScore s = score_text(model_, val_, 16, 256, device_);
  return {{"loss", s.bits_per_char * std::log(2.0)}, {"bits_per_char", s.bits_per_char},
          {"perplexity", s.perplexity}};
}

}  // namespace seqtorch::textgen
