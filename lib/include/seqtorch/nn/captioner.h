#pragma once
// The CNN-then-RNN image captioner of the seed note's §8.1 and §10.5.
//   encoder   a grid of image features [B, N, C]: either a small residual CNN trained from
//             scratch (stem conv, `stages` residual stages with batch norm, each halving the
//             grid: a 64 x 64 image gives 8 x 8 = 64 regions with 3 stages), or a backbone the
//             user gives as a TorchScript file (any module mapping [B, 3, S, S] to [B, C, h, w]
//             or [B, N, C], e.g. a torchvision ResNet cut before its pooling and traced in
//             Python), frozen or fine-tuned
//   decoders  show_tell (Vinyals et al. 2015): the pooled features initialise the LSTM state
//             (h0 = tanh(W_h f), c0 = tanh(W_c f)); the words follow
//             attend (Xu et al. 2015, "show, attend and tell"): the same initial state, then at
//             every step soft (additive) attention over the grid with the previous h as the
//             query, gated by beta = sigmoid(W_b h), joins the word embedding as the LSTM's input;
//             the weights are returned for the doubly stochastic regulariser
//   output    logits = W_out dropout(h_t)
// Images enter as uint8 (or float 0..255) [B, 3, S, S] at the configured size (data::resize_image
// makes them so); the module normalises them with the configured mean and std.
// Shapes: B batch, S image side, N grid regions, C feature width, T caption steps, E embedding,
// H hidden, V vocabulary.
#include <seqtorch/nn/attention.h>
#include <seqtorch/nn/recurrent.h>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>
#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seqtorch::nn {

/// The decoders, and `align`: no decoder, the alignment model of nn/alignment.h instead (a
/// caption::CaptionModel holds one or the other).
enum class CaptionDecoder { show_tell, attend, align };
/// "show_tell" | "attend" | "align".
std::string to_string(CaptionDecoder decoder);
/// Parses "show_tell" | "show-tell" | "attend" | "show_attend_tell" | "align"; throws naming the
/// valid values.
CaptionDecoder parse_caption_decoder(const std::string& name);

struct CaptionerOptions {
  explicit CaptionerOptions(int64_t vocab_size) : vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, vocab_size);
  /// S: images are S x S pixels.
  TORCH_ARG(int64_t, image_size) = 64;
  /// The CNN: C, the width of its last stage (each earlier stage has half the width of the next).
  TORCH_ARG(int64_t, channels) = 128;
  /// The CNN: residual stages, each halving the grid.
  TORCH_ARG(int64_t, stages) = 3;
  TORCH_ARG(int64_t, embedding_size) = 128;
  TORCH_ARG(int64_t, hidden_size) = 256;
  /// Attention's hidden width (0: H).
  TORCH_ARG(int64_t, attention_size) = 0;
  TORCH_ARG(CaptionDecoder, decoder) = CaptionDecoder::attend;
  TORCH_ARG(double, dropout) = 0.3;
  /// Per-channel normalisation of pixels scaled to [0, 1].
  TORCH_ARG(std::vector<double>, mean) = std::vector<double>({0.485, 0.456, 0.406});
  TORCH_ARG(std::vector<double>, std) = std::vector<double>({0.229, 0.224, 0.225});
  /// The padding id (its embedding is zero and gets no gradient).
  TORCH_ARG(int64_t, pad) = 0;
};

/// A residual block: conv3x3(stride) BN ReLU conv3x3 BN, plus the input (through a strided 1x1
/// conv and BN when the shape changes), ReLU.
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t in, int64_t out, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, shortcut_bn{nullptr};
};
TORCH_MODULE(ResidualBlock);

/// The image encoder: the CNN, or a TorchScript backbone whose parameters and buffers are
/// registered here (as "backbone.<name with . replaced by _>"), so optimisers, checkpoints and
/// device moves treat them like the CNN's.
class ImageEncoderImpl : public torch::nn::Module {
 public:
  /// The CNN of `options`.
  explicit ImageEncoderImpl(const CaptionerOptions& options);
  /// A backbone (loaded from a TorchScript file); its feature width is found by running it once.
  ImageEncoderImpl(const CaptionerOptions& options, torch::jit::Module backbone);
  /// Normalised images [B, 3, S, S] -> features [B, N, C].
  torch::Tensor forward(const torch::Tensor& x);
  /// Frozen: no gradients, batch norm statistics fixed (eval mode) even while training.
  void set_frozen(bool frozen);
  bool frozen() const { return frozen_; }
  void train(bool on = true) override;
  /// C.
  int64_t feature_size() const { return feature_size_; }
  bool has_backbone() const { return backbone_ != nullptr; }
  torch::jit::Module* backbone() { return backbone_.get(); }

  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::vector<ResidualBlock> stages;

 private:
  std::shared_ptr<torch::jit::Module> backbone_;
  int64_t feature_size_ = 0;
  bool frozen_ = false;
};
TORCH_MODULE(ImageEncoder);

/// Pixels uint8 / 0..255 [B, 3, S, S] (S = image_size) -> (x - mean) / std as float on the
/// buffers' device; `mean`/`std` are the [1, 3, 1, 1] buffers made by pixel_statistics.
torch::Tensor normalize_pixels(const torch::Tensor& images, const torch::Tensor& mean, const torch::Tensor& std,
                               int64_t image_size);
/// Per-channel values on the 0..1 scale -> a [1, 3, 1, 1] float buffer on the 0..255 scale.
torch::Tensor pixel_statistics(const std::vector<double>& values);

struct CaptionState {
  /// h, c [1, B, H].
  RecurrentState rnn;
};

struct CaptionStepOutput {
  torch::Tensor logits;     // [B, V]
  CaptionState state;
  torch::Tensor attention;  // [B, N] (attend), undefined (show_tell)
};

struct CaptionForwardOutput {
  torch::Tensor logits;     // [T, B, V]
  torch::Tensor attention;  // [T, B, N] (attend), undefined (show_tell)
};

class CaptionerImpl : public torch::nn::Module {
 public:
  /// With the CNN encoder.
  explicit CaptionerImpl(const CaptionerOptions& options);
  /// With a TorchScript backbone.
  CaptionerImpl(const CaptionerOptions& options, torch::jit::Module backbone);

  /// uint8 / float 0..255 images [B, 3, S, S] -> normalised float [B, 3, S, S] (the model's dtype
  /// and device).
  torch::Tensor normalize(const torch::Tensor& images) const;
  /// Normalised images -> features [B, N, C].
  torch::Tensor encode(const torch::Tensor& x);
  /// The decoder's state before the first word.
  CaptionState initial_state(const torch::Tensor& features);
  /// The attention memory of the features (attend; show_tell: values only).
  AttentionMemory memory(const torch::Tensor& features);
  /// One step: tokens [B] (<s> first).
  CaptionStepOutput step(const torch::Tensor& tokens, const CaptionState& state, const AttentionMemory& memory);
  /// Training: images (uint8 or 0..255) [B, 3, S, S] and decoder inputs [T, B] (<s> w_1 ..
  /// w_{T-1}), full teacher forcing.
  CaptionForwardOutput forward(const torch::Tensor& images, const torch::Tensor& inputs);

  CaptionerOptions options;
  ImageEncoder encoder{nullptr};
  torch::nn::Embedding embedding{nullptr};
  Recurrent lstm{nullptr};
  torch::nn::Linear init_h{nullptr}, init_c{nullptr}, gate{nullptr}, output{nullptr};
  Attention attention{nullptr};
  torch::nn::Dropout dropout{nullptr};
  /// Buffers [1, 3, 1, 1]: mean and std scaled to 0..255.
  torch::Tensor pixel_mean, pixel_std;

 private:
  void build();
};
TORCH_MODULE(Captioner);

}  // namespace seqtorch::nn
