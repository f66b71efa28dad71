#include <seqtorch/nn/alignment.h>

#include <torch/torch.h>

namespace seqtorch::nn {

AlignerImpl::AlignerImpl(const CaptionerOptions& o) : options(o) {
  encoder = register_module("encoder", ImageEncoder(o));
  build();
}

AlignerImpl::AlignerImpl(const CaptionerOptions& o, torch::jit::Module backbone) : options(o) {
  encoder = register_module("encoder", ImageEncoder(o, std::move(backbone)));
  build();
}

void AlignerImpl::build() {
  const auto& o = options;
  TORCH_CHECK(o.vocab_size() >= 5, "aligner: vocabulary size must be >= 5, got ", o.vocab_size());
  for (double x : o.std()) TORCH_CHECK(x > 0, "aligner: std values must be > 0");
  const int64_t D = o.hidden_size();
  embedding = register_module("embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(o.vocab_size(), o.embedding_size()).padding_idx(o.pad())));
  rnn = register_module("rnn", Recurrent(RecurrentOptions(o.embedding_size(), o.hidden_size()).cell(CellKind::lstm).bidirectional(true)));
  region = register_module("region", torch::nn::Linear(encoder->feature_size(), D));
  word = register_module("word", torch::nn::Linear(2 * o.hidden_size(), D));
  pixel_mean = register_buffer("pixel_mean", pixel_statistics(o.mean()));
  pixel_std = register_buffer("pixel_std", pixel_statistics(o.std()));
}

torch::Tensor AlignerImpl::regions(const torch::Tensor& images) {
  const auto x = normalize_pixels(images, pixel_mean, pixel_std, options.image_size());
  return torch::nn::functional::normalize(region->forward(encoder->forward(x)),
                                          torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor AlignerImpl::words(const torch::Tensor& ids, const torch::Tensor& lengths) {
  auto out = rnn->forward(embedding->forward(ids), {}, lengths).output;  // [T, B, 2H], zero at padding
  auto v = torch::nn::functional::normalize(word->forward(out), torch::nn::functional::NormalizeFuncOptions().dim(-1));
  const auto mask = ids.ne(options.pad()).unsqueeze(2).to(v.scalar_type());
  return v * mask;
}

torch::Tensor AlignerImpl::scores(const torch::Tensor& regions, const torch::Tensor& words, const torch::Tensor& lengths) {
  // dots [Bi, N, T, Bs] -> best region per word [Bi, T, Bs] -> mean over each sentence's words.
  const auto dots = torch::einsum("ind,tsd->itsn", {regions, words});
  const auto best = std::get<0>(dots.max(-1));                          // [Bi, T, Bs]
  const auto per_sentence = best.sum(1);                                 // padded words add 0
  return per_sentence / lengths.to(per_sentence.device(), per_sentence.scalar_type()).unsqueeze(0);
}

torch::Tensor AlignerImpl::ranking_loss(const torch::Tensor& s, double margin, const torch::Tensor& same) {
  TORCH_CHECK(s.dim() == 2 && s.size(0) == s.size(1), "ranking loss: expected a square score matrix, got ", s.sizes());
  const auto diagonal = s.diagonal();
  auto negatives = torch::eye(s.size(0), torch::TensorOptions(torch::kBool).device(s.device())).logical_not();
  if (same.defined()) negatives = negatives.logical_and(same.to(s.device()).logical_not());
  const auto mask = negatives.to(s.scalar_type());
  const auto sentences_for_image = torch::relu(margin - diagonal.unsqueeze(1) + s) * mask;  // row k: image k
  const auto images_for_sentence = torch::relu(margin - diagonal.unsqueeze(0) + s) * mask;  // column l: sentence l
  return (sentences_for_image.sum() + images_for_sentence.sum()) / static_cast<double>(s.size(0));
}

}  // namespace seqtorch::nn
