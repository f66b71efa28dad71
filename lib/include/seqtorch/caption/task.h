#pragma once
// Training a captioning model with the shared engine. Images are decoded and resized once, on
// worker threads, into a uint8 cache [N, 3, S, S] (data::read_images); every epoch visits each
// (image, caption) pair once in an order that is a function of (seed, epoch) only (exact resume).
// Loss: cross-entropy with label smoothing over the real caption tokens (</s> included), plus,
// for the attend decoder, the doubly stochastic attention regulariser of Xu et al. (2015),
// lambda * mean over images and regions of (1 - sum_t alpha_t)^2. The encoder can stay frozen
// until a chosen epoch. Validation: teacher-forced loss, and BLEU-4 / CIDEr-D of greedy captions
// of (up to) the first `decode_images` validation images against all their references.
#include <seqtorch/caption/model.h>
#include <seqtorch/train/trainer.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seqtorch::caption {

/// One training pair: an image of the cache and a caption's word ids (no <s> or </s>).
struct CaptionExample {
  int64_t image = 0;
  std::vector<int64_t> words;
};

/// The pairs of a data set: every caption of image i (cut to `max_words`; 0: no cut).
std::vector<CaptionExample> caption_examples(const CaptionModel& model,
                                             const std::vector<std::vector<std::string>>& captions, int64_t max_words);

/// The batches of an epoch over n items: a shuffle that is a function of (seed, epoch) only, so a
/// resumed run sees the same batches.
class EpochOrder {
 public:
  EpochOrder(size_t n, int64_t batch_size, uint64_t seed);
  int64_t batches() const { return (static_cast<int64_t>(n_) + batch_size_ - 1) / batch_size_; }
  /// The items of batch `index` of `epoch` (the last batch may be short).
  std::vector<int64_t> batch(int64_t epoch, int64_t index);

 private:
  size_t n_;
  int64_t batch_size_;
  uint64_t seed_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
};

struct TaskOptions {
  int64_t batch_size = 32;
  /// Data-parallel place: batches of batch_size x world_size captions, this process trains on
  /// part `rank` of each.
  train::Shard shard;
  double label_smoothing = 0.1;
  /// lambda of the attention regulariser (attend decoder only).
  double attention_regularizer = 1.0;
  /// Validation images captioned (greedy) at each evaluation (0: none; then the metric is loss).
  int64_t decode_images = 250;
  /// Longest generated caption, words.
  int64_t max_length = 20;
  /// The encoder trains from this epoch on (0: from the start; -1: never, it stays frozen).
  int64_t finetune_from = 0;
  uint64_t seed = 1;
};

/// A batch: images uint8 [B, 3, S, S], decoder inputs <s> w.. and targets w.. </s> [T, B], pad 0.
struct CaptionBatch {
  torch::Tensor images, inputs, targets;
  int64_t tokens = 0;
};
CaptionBatch make_batch(const torch::Tensor& images, const std::vector<CaptionExample>& examples,
                        const std::vector<int64_t>& indices, torch::Device device);

/// The loss of a batch (mean over real tokens) and, for attend, the regulariser term added.
torch::Tensor caption_loss(CaptionModel& model, const CaptionBatch& batch, double label_smoothing,
                           double attention_regularizer);

class CaptionTask : public train::TrainTask {
 public:
  /// train_images / valid_images: the uint8 caches; valid_references: the captions of each
  /// validation image (for the metrics).
  CaptionTask(CaptionModel model, torch::Tensor train_images, std::vector<CaptionExample> train,
              torch::Tensor valid_images, std::vector<std::vector<std::string>> valid_references,
              const TaskOptions& options, torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override { return order_.batches(); }
  /// Freezes or unfreezes the encoder (finetune_from).
  void start_epoch(int64_t epoch) override;
  train::StepLoss train_loss(int64_t epoch, int64_t index) override;
  /// {"loss", "perplexity"} and, with decode_images > 0, {"bleu1", "bleu4", "cider"}.
  std::map<std::string, double> evaluate() override;

 private:
  CaptionModel model_;
  torch::Tensor train_images_, valid_images_;
  std::vector<CaptionExample> train_, valid_;
  std::vector<std::vector<std::string>> valid_references_;
  TaskOptions options_;
  torch::Device device_;
  EpochOrder order_;
};

}  // namespace seqtorch::caption
