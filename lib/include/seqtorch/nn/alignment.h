#pragma once
// The seed note's own captioning variant (§8.1; Karpathy and Fei-Fei 2015, "Deep visual-semantic
// alignments"): image regions and the words of a sentence mapped into one D-dimensional space,
//   regions  v_i = normalise(W_m f_i)                 (f_i: the image encoder's grid features)
//   words    s_t = normalise(W_d [h_fwd_t; h_bwd_t])   (a bidirectional LSTM over embeddings)
//   score    S(image, sentence) = mean over words t of max over regions i of v_i . s_t
// (the paper's simplified objective, each word aligned to its best region, averaged rather than
// summed so long sentences do not win), trained with the bidirectional max-margin ranking loss
//   sum over negatives l != k of [m - S_kk + S_kl]_+ + [m - S_kk + S_lk]_+
// so each image's own sentences score above the others and the other way round. Vectors are
// L2-normalised (scores are cosines). Shapes: B images, N regions, C features, T words, D joint.
#include <seqtorch/nn/captioner.h>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace seqtorch::nn {

class AlignerImpl : public torch::nn::Module {
 public:
  /// The CNN of `options` (image size, channels, stages, mean, std), embedding_size E,
  /// hidden_size H per direction and D = H. With a backbone like CaptionerImpl.
  explicit AlignerImpl(const CaptionerOptions& options);
  AlignerImpl(const CaptionerOptions& options, torch::jit::Module backbone);

  /// uint8 / 0..255 images [B, 3, S, S] -> region vectors [B, N, D] (unit length).
  torch::Tensor regions(const torch::Tensor& images);
  /// words [T, B] (pad 0 after each sentence), lengths [B] (CPU int64) -> word vectors [T, B, D]
  /// (unit length; zero at padded steps).
  torch::Tensor words(const torch::Tensor& words, const torch::Tensor& lengths);
  /// Scores [B_images, B_sentences]: regions [Bi, N, D], word vectors [T, Bs, D], lengths [Bs].
  static torch::Tensor scores(const torch::Tensor& regions, const torch::Tensor& words, const torch::Tensor& lengths);
  /// The ranking loss of a score matrix [B, B] whose diagonal holds the true pairs; `same` [B, B]
  /// bool (or undefined) marks off-diagonal pairs that are also true (two sentences of one image),
  /// which are not counted as negatives. Mean over the B pairs.
  static torch::Tensor ranking_loss(const torch::Tensor& scores, double margin, const torch::Tensor& same = {});

  CaptionerOptions options;
  ImageEncoder encoder{nullptr};
  torch::nn::Embedding embedding{nullptr};
  Recurrent rnn{nullptr};
  torch::nn::Linear region{nullptr}, word{nullptr};
  torch::Tensor pixel_mean, pixel_std;

 private:
  void build();
};
TORCH_MODULE(Aligner);

}  // namespace seqtorch::nn
