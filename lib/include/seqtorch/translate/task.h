#pragma once
// Training a translation model with the shared engine: sentence pairs bucketed by length into
// batches (a fresh order every epoch, a function of (seed, epoch) only, so resume is exact),
// cross-entropy with label smoothing over the real target tokens, scheduled teacher forcing.
// Validation: per-token loss and accuracy under teacher forcing, plus greedy-decoding BLEU, chrF
// and exact match on (up to) the first `decode_sentences` validation pairs.
#include <seqtorch/translate/model.h>
#include <seqtorch/train/trainer.h>

#include <cstdint>
#include <vector>

namespace seqtorch::translate {

struct EncodedPair {
  std::vector<int64_t> source;  // tokens then </s>
  std::vector<int64_t> target;  // tokens, no <s> or </s>
};

/// The pairs as the model's ids.
std::vector<EncodedPair> encode_pairs(const TranslationModel& model, const std::vector<data::SentencePair>& pairs);
/// Removes the pairs with more than `max_tokens` tokens on either side; returns how many.
size_t drop_longer(std::vector<EncodedPair>& pairs, int64_t max_tokens);

struct TaskOptions {
  /// Sentence pairs per batch.
  int64_t batch_size = 64;
  /// Probability that a decoder step reads the true previous token (1: always).
  double teacher_forcing = 1.0;
  /// Label smoothing epsilon of the training loss.
  double label_smoothing = 0.1;
  /// Validation pairs decoded greedily at each evaluation (0: none).
  int64_t decode_sentences = 200;
  /// Seed of the batch order.
  uint64_t seed = 1;
  /// Data-parallel place: batches of batch_size x world_size pairs, this process trains on part
  /// `rank` of each.
  train::Shard shard;
};

class TranslationTask : public train::TrainTask {
 public:
  /// `valid_text`: the validation pairs as text (for BLEU against the real references).
  TranslationTask(TranslationModel model, std::vector<EncodedPair> train, std::vector<EncodedPair> valid,
                  std::vector<data::SentencePair> valid_text, const TaskOptions& options,
                  torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override { return static_cast<int64_t>(batches_.size()); }
  void start_epoch(int64_t epoch) override;
  train::StepLoss train_loss(int64_t epoch, int64_t index) override;
  /// {"loss", "perplexity", "token_accuracy"} and, with decode_sentences > 0, {"bleu", "chrf",
  /// "exact_match"} of greedy translations.
  std::map<std::string, double> evaluate() override;

 private:
  void order_batches(int64_t epoch);

  TranslationModel model_;
  std::vector<EncodedPair> train_, valid_;
  std::vector<data::SentencePair> valid_text_;
  TaskOptions options_;
  torch::Device device_;
  std::vector<std::vector<int64_t>> batches_;  // indices into train_
  int64_t ordered_epoch_ = -1;
};

/// A batch as the model reads it.
struct Batch {
  torch::Tensor source;      // [S, B] int64, pad after each sentence
  torch::Tensor lengths;     // [B] int64 (CPU)
  torch::Tensor target_in;   // [T, B]: <s> y_1 .. y_n, pad
  torch::Tensor target_out;  // [T, B]: y_1 .. y_n </s>, pad
  int64_t target_tokens = 0;
};
/// Pads pairs[indices] into a batch on `device`.
Batch make_batch(const std::vector<EncodedPair>& pairs, const std::vector<int64_t>& indices,
                 torch::Device device);

}  // namespace seqtorch::translate
