#pragma once
// Training and using the image-sentence alignment model (nn/alignment.h): the ranking task,
// retrieval both ways, and Recall@K as image-text retrieval papers report it.
//   image -> text  for each image, the rank of the best of its own captions among all captions
//   text -> image  for each caption, the rank of its image among all images
#include <seqtorch/caption/model.h>
#include <seqtorch/caption/task.h>
#include <seqtorch/train/trainer.h>

#include <map>
#include <string>
#include <vector>

namespace seqtorch::caption {

struct AlignmentOptions {
  /// Images per batch (each with one of its captions; the others in the batch are negatives).
  int64_t batch_size = 32;
  double margin = 0.2;
  /// Validation images ranked against their captions at each evaluation.
  int64_t eval_images = 500;
  int64_t finetune_from = 0;
  uint64_t seed = 1;
};

/// Region vectors of images (uint8 [N, 3, S, S]) and word vectors of sentences, computed in
/// batches without gradients, kept on `device`.
struct Embedded {
  torch::Tensor regions;                 // [I, N, D]
  std::vector<torch::Tensor> words;      // per batch of sentences: [T, b, D]
  std::vector<torch::Tensor> lengths;    // per batch: [b]
};
Embedded embed(CaptionModel& model, const torch::Tensor& images, const std::vector<std::vector<int64_t>>& sentences,
               torch::Device device, int64_t batch_size = 128);
/// Scores [I, sentences] of everything embedded.
torch::Tensor all_scores(const Embedded& e);

/// Recall@1, @5, @10 both ways ("i2t_r1", ..., "t2i_r10") and their sum "rsum" (in percent), for
/// images uint8 [I, 3, S, S] and `captions[i]` of image i.
std::map<std::string, double> retrieval_recall(CaptionModel& model, const torch::Tensor& images,
                                               const std::vector<std::vector<std::string>>& captions, torch::Device device);

/// One retrieval result: the index of a candidate and its score.
struct Ranked {
  int64_t index = 0;
  double score = 0;
};
/// For each query image (uint8 [Q, 3, S, S]), the best `k` of `captions`, best first.
std::vector<std::vector<Ranked>> rank_captions(CaptionModel& model, const torch::Tensor& query_images,
                                               const std::vector<std::string>& captions, int64_t k, torch::Device device);
/// For each query caption, the best `k` of `images` (uint8 [I, 3, S, S]), best first.
std::vector<std::vector<Ranked>> rank_images(CaptionModel& model, const torch::Tensor& images,
                                             const std::vector<std::string>& query_captions, int64_t k, torch::Device device);

class AlignmentTask : public train::TrainTask {
 public:
  AlignmentTask(CaptionModel model, torch::Tensor train_images, std::vector<std::vector<std::string>> train_captions,
                torch::Tensor valid_images, std::vector<std::vector<std::string>> valid_captions,
                const AlignmentOptions& options, torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override { return order_.batches(); }
  /// Freezes or unfreezes the encoder (finetune_from).
  void start_epoch(int64_t epoch) override;
  train::StepLoss train_loss(int64_t epoch, int64_t index) override;
  /// {"loss", "rsum", "i2t_r1" .. "t2i_r10"}.
  std::map<std::string, double> evaluate() override;

 private:
  torch::Tensor loss_of(const torch::Tensor& images, const std::vector<std::vector<int64_t>>& sentences,
                        const std::vector<int64_t>& image_ids);
  CaptionModel model_;
  torch::Tensor train_images_, valid_images_;
  std::vector<std::vector<std::vector<int64_t>>> train_;  // per image, its captions' ids
  std::vector<std::vector<std::string>> valid_captions_;
  AlignmentOptions options_;
  torch::Device device_;
  EpochOrder order_;
};

/// A sentence batch: ids [T, B] padded with 0, lengths [B] (CPU).
std::pair<torch::Tensor, torch::Tensor> pad_sentences(const std::vector<std::vector<int64_t>>& sentences);

}  // namespace seqtorch::caption
