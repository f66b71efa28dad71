#pragma once
// The recurrent convolutional layer (RCL) of Liang & Hu, "Recurrent Convolutional Neural Network
// for Object Recognition" (CVPR 2015), the seed note's §8.2, and the RCNN built from it.
//   z(t) = w_f * u + w_r * x(t-1) + b      (* is convolution; z(0) = w_f * u + b)
//   x(t) = g(f(z(t)))                       f = ReLU, g = local response normalisation
// for t = 0..T: the feed-forward input w_f * u is computed once and the recurrent weights w_r are
// shared across the T unrolled steps, so the layer's receptive field grows with t at no cost in
// parameters. T = 0 is a plain convolution followed by ReLU and LRN.
// Shapes: B batch, C channels, H x W pixels; every convolution keeps H x W (padding k / 2).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>

namespace seqtorch::nn {

/// Options of the recurrent convolutional layer.
struct RecurrentConv2dOptions {
  RecurrentConv2dOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  /// Channels C_in of u.
  TORCH_ARG(int64_t, in_channels);
  /// Channels C of x(t).
  TORCH_ARG(int64_t, out_channels);
  /// Odd kernel size k of both convolutions.
  TORCH_ARG(int64_t, kernel_size) = 3;
  /// Unrolled recurrent steps T (Liang & Hu use 3); 0: no recurrence.
  TORCH_ARG(int64_t, steps) = 3;
  /// Local response normalisation after the ReLU (size C / 8 + 1, alpha 0.001, beta 0.75, as in
  /// the paper); off: ReLU only.
  TORCH_ARG(bool, lrn) = true;
};

/// The RCL. Parameters: feed_forward (w_f [C, C_in, k, k], b [C]), recurrent (w_r [C, C, k, k]).
class RecurrentConv2dImpl : public torch::nn::Module {
 public:
  explicit RecurrentConv2dImpl(const RecurrentConv2dOptions& options);
  void reset();
  /// u [B, C_in, H, W] -> x(T) [B, C, H, W].
  torch::Tensor forward(const torch::Tensor& u);

  RecurrentConv2dOptions options;
  torch::nn::Conv2d feed_forward = nullptr, recurrent = nullptr;
  torch::nn::LocalResponseNorm norm = nullptr;
};
TORCH_MODULE(RecurrentConv2d);

/// Options of the RCNN and of its plain-CNN twin.
struct RCNNOptions {
  RCNNOptions(int64_t in_channels, int64_t classes) : in_channels_(in_channels), classes_(classes) {}
  /// Channels of the input image.
  TORCH_ARG(int64_t, in_channels);
  /// Number of classes.
  TORCH_ARG(int64_t, classes);
  /// Channels K of every layer.
  TORCH_ARG(int64_t, channels) = 32;
  /// Number of RCL blocks; a 2x2 max pool (stride 2) sits between consecutive blocks.
  TORCH_ARG(int64_t, blocks) = 2;
  /// Unrolled steps T of every RCL.
  TORCH_ARG(int64_t, steps) = 3;
  /// Kernel of the first, feed-forward layer (the blocks use 3x3).
  TORCH_ARG(int64_t, stem_kernel) = 5;
  /// A 2x2 max pool after the first layer (for larger images).
  TORCH_ARG(bool, stem_pool) = false;
  /// Dropout before the classifier.
  TORCH_ARG(double, dropout) = 0.2;
  /// RCL blocks (true), or the plain CNN with the same parameter count: each block two
  /// feed-forward 3x3 convolutions K -> K with ReLU and LRN (2K^2 9 + 2K parameters, against
  /// the RCL's 2K^2 9 + K).
  TORCH_ARG(bool, recurrent) = true;
};

/// stem conv (+ ReLU, LRN, optional pool) -> blocks with pools between -> global max pool ->
/// dropout -> linear classifier.
class RCNNImpl : public torch::nn::Module {
 public:
  explicit RCNNImpl(const RCNNOptions& options);
  /// images [B, C_in, H, W] -> logits [B, classes].
  torch::Tensor forward(const torch::Tensor& images);

  RCNNOptions options;
  torch::nn::Sequential features = nullptr;
  torch::nn::Dropout dropout = nullptr;
  torch::nn::Linear classifier = nullptr;
};
TORCH_MODULE(RCNN);

}  // namespace seqtorch::nn
