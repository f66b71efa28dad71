#pragma once
// Captioning images with a trained model through the shared decoding engine (decode/decoding.h):
// greedy or beam search over batches of images, attention maps per word, and the metrics.
#include <seqtorch/caption/model.h>
#include <seqtorch/data/coco.h>
#include <seqtorch/decode/decoding.h>

#include <map>
#include <string>
#include <vector>

namespace seqtorch::caption {

struct DescribeOptions {
  /// Beam width (1: greedy).
  int64_t beam = 3;
  /// Longest caption, words.
  int64_t max_length = 20;
  /// GNMT length penalty alpha (0: raw log-probability).
  double length_penalty = 0.0;
  /// Images captioned together.
  int64_t batch_size = 32;
  /// Keep each word's attention weights.
  bool keep_attention = false;
};
/// Throws naming the option for beam < 1, max_length < 1, length_penalty < 0, batch_size < 1.
void check(const DescribeOptions& options);

struct Description {
  std::string text;
  std::vector<std::string> words;
  /// log P / length penalty.
  double score = 0;
  /// [generated tokens, N] (</s> included), with keep_attention and the attend decoder.
  torch::Tensor attention;
};

/// The decoders' view of a Captioner. State rows: h, c [1, N, H] (dim 1); memory values and keys
/// [N, regions, .] (dim 0).
class CaptionStepModel : public decode::StepModel {
 public:
  explicit CaptionStepModel(nn::Captioner model) : model_(std::move(model)) {}
  /// Encodes images (uint8 [N, 3, S, S]): the start of a search (after <s>).
  decode::StepResult start(const torch::Tensor& images);
  decode::StepResult step(const torch::Tensor& tokens, const decode::StepState& state) override;

 private:
  nn::Captioner model_;
};

/// Captions images uint8 [N, 3, S, S] (S the model's image size) on `device` (eval mode).
std::vector<Description> describe(CaptionModel& model, const torch::Tensor& images, const DescribeOptions& options,
                                  torch::Device device);

/// Reads image files (any size, PNG or JPEG) resized to the model's size: uint8 [N, 3, S, S].
torch::Tensor load_images(const std::vector<std::string>& paths, int64_t size, int threads = 0);
/// The images of a data set (image_path of each), resized.
torch::Tensor load_dataset_images(const data::CaptionDataset& data, const std::string& image_dir, int64_t size,
                                  int threads = 0);

/// {"bleu1".."bleu4", "cider", "images"} of captions against each image's references.
std::map<std::string, double> score_descriptions(const std::vector<Description>& descriptions,
                                                 const std::vector<std::vector<std::string>>& references);

/// A picture of one word's attention: the image (uint8 [3, S, S]) scaled up `scale` times, its
/// regions darkened by how little attention they got (weights [N] over a square grid).
torch::Tensor attention_picture(const torch::Tensor& image, const torch::Tensor& weights, int64_t scale = 4);

/// Fraction of a word's attention on pixels inside a box (x, y, w, h in image pixels) of an
/// S x S image, the weights [N] spread over their square grid cells.
double attention_in_box(const torch::Tensor& weights, int64_t image_size, int64_t x, int64_t y, int64_t w, int64_t h);
/// Whether the most attended grid cell of `weights` [N] overlaps that box.
bool attention_peak_in_box(const torch::Tensor& weights, int64_t image_size, int64_t x, int64_t y, int64_t w, int64_t h);
/// Where attention lands, for data whose images list their objects (the built-in scenes): over
/// every generated word naming the shape of exactly one object of its image (descriptions kept
/// with keep_attention, in the order of `data.images`), "attention_on_object" (the mean share of
/// the word's attention inside the object's box) against "object_area_share" (what uniform
/// attention gives), "attention_peak_on_object" (how often the most attended region overlaps
/// the box) against "object_cell_share" (how often a random region would), and "shape_words".
/// Empty when no word qualifies.
std::map<std::string, double> attention_on_objects(const data::CaptionDataset& data, const std::vector<Description>& ds,
                                                   int64_t size);

/// The share of the cells of a grid x grid split of the image that overlap the box: how often a
/// cell drawn at random would (attention_peak_in_box's chance level).
double cells_overlapping_box(int64_t grid, int64_t image_size, int64_t x, int64_t y, int64_t w, int64_t h);

}  // namespace seqtorch::caption
