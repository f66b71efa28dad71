#include <seqtorch/nn/captioner.h>

#include <seqtorch/nn/cpu_kernel.h>
#include <torch/torch.h>

#include <algorithm>

namespace seqtorch::nn {

std::string to_string(CaptionDecoder decoder) {
  switch (decoder) {
    case CaptionDecoder::show_tell: return "show_tell";
    case CaptionDecoder::attend: return "attend";
    case CaptionDecoder::align: return "align";
  }
  return "?";
}

CaptionDecoder parse_caption_decoder(const std::string& name) {
  if (name == "show_tell" || name == "show-tell") return CaptionDecoder::show_tell;
  if (name == "attend" || name == "show_attend_tell" || name == "show-attend-tell") return CaptionDecoder::attend;
  if (name == "align") return CaptionDecoder::align;
  TORCH_CHECK(false, "decoder: expected show_tell, attend or align, got '", name, "'");
}

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

}  // namespace

ResidualBlockImpl::ResidualBlockImpl(int64_t in, int64_t out, int64_t stride) {
  conv1 = register_module("conv1", conv(in, out, 3, stride));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2 = register_module("conv2", conv(out, out, 3, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
  if (stride != 1 || in != out) {
    shortcut = register_module("shortcut", conv(in, out, 1, stride));
    shortcut_bn = register_module("shortcut_bn", torch::nn::BatchNorm2d(out));
  }
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(bn1->forward(conv1->forward(x)));
  y = bn2->forward(conv2->forward(y));
  return torch::relu(y + (shortcut ? shortcut_bn->forward(shortcut->forward(x)) : x));
}

ImageEncoderImpl::ImageEncoderImpl(const CaptionerOptions& o) {
  TORCH_CHECK(o.stages() >= 1 && o.stages() <= 6, "encoder stages: expected 1..6, got ", o.stages());
  TORCH_CHECK(o.channels() >= (int64_t{1} << (o.stages() - 1)), "encoder channels: expected >= ",
              int64_t{1} << (o.stages() - 1), " for ", o.stages(), " stages, got ", o.channels());
  TORCH_CHECK(o.image_size() >= (int64_t{1} << o.stages()), "image size ", o.image_size(), " is too small for ",
              o.stages(), " stages (at least ", int64_t{1} << o.stages(), ")");
  const int64_t first = o.channels() >> (o.stages() - 1);
  stem = register_module("stem", conv(3, first, 3, 1));
  stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(first));
  int64_t width = first;
  for (int64_t s = 0; s < o.stages(); ++s) {
    const int64_t out = first << s;
    stages.push_back(register_module("stage" + std::to_string(s), ResidualBlock(width, out, 2)));
    width = out;
  }
  feature_size_ = width;
}

ImageEncoderImpl::ImageEncoderImpl(const CaptionerOptions& o, torch::jit::Module backbone)
    : backbone_(std::make_shared<torch::jit::Module>(std::move(backbone))) {
  auto holder = register_module("backbone", std::make_shared<torch::nn::Module>("Backbone"));
  auto flat = [](std::string name) {
    std::replace(name.begin(), name.end(), '.', '_');
    return name;
  };
  for (const auto& p : backbone_->named_parameters(true)) holder->register_parameter(flat(p.name), p.value, p.value.requires_grad());
  for (const auto& b : backbone_->named_buffers(true)) holder->register_buffer(flat(b.name), b.value);
  backbone_->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor probe;
  try {
    probe = forward(torch::zeros({1, 3, o.image_size(), o.image_size()}));
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "backbone: running it on a [1, 3, ", o.image_size(), ", ", o.image_size(),
                "] image failed: ", e.msg());
  }
  feature_size_ = probe.size(2);
}

torch::Tensor ImageEncoderImpl::forward(const torch::Tensor& x) {
  if (backbone_) {
    auto out = backbone_->forward({x});
    TORCH_CHECK(out.isTensor(), "backbone: expected it to return a tensor, got ", out.tagKind());
    auto f = out.toTensor();
    TORCH_CHECK(f.dim() == 4 || f.dim() == 3, "backbone: expected [B, C, h, w] or [B, N, C] features, got ", f.sizes());
    if (f.dim() == 4) f = f.flatten(2).transpose(1, 2);
    return f;
  }
  auto y = torch::relu(stem_bn->forward(stem->forward(x)));
  for (auto& s : stages) y = s->forward(y);
  return y.flatten(2).transpose(1, 2);  // [B, N, C]
}

void ImageEncoderImpl::set_frozen(bool frozen) {
  frozen_ = frozen;
  for (auto& p : parameters()) p.set_requires_grad(!frozen);
  train(is_training());
}

void ImageEncoderImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (frozen_)
    for (auto& child : children()) child->train(false);
  if (backbone_) backbone_->train(on && !frozen_);
}

CaptionerImpl::CaptionerImpl(const CaptionerOptions& o) : options(o) {
  encoder = register_module("encoder", ImageEncoder(o));
  build();
}

CaptionerImpl::CaptionerImpl(const CaptionerOptions& o, torch::jit::Module backbone) : options(o) {
  encoder = register_module("encoder", ImageEncoder(o, std::move(backbone)));
  build();
}

void CaptionerImpl::build() {
  const auto& o = options;
  TORCH_CHECK(o.decoder() != CaptionDecoder::align, "captioner: 'align' is the alignment model (nn::Aligner), not a decoder");
  TORCH_CHECK(o.vocab_size() >= 5, "captioner: vocabulary size must be >= 5, got ", o.vocab_size());
  TORCH_CHECK(o.embedding_size() >= 1 && o.hidden_size() >= 1, "captioner: sizes must be >= 1");
  TORCH_CHECK(o.dropout() >= 0 && o.dropout() < 1, "dropout: expected in [0, 1), got ", o.dropout());
  TORCH_CHECK(o.mean().size() == 3 && o.std().size() == 3, "captioner: mean and std need 3 values each");
  for (double s : o.std()) TORCH_CHECK(s > 0, "captioner: std values must be > 0");
  const int64_t C = encoder->feature_size(), H = o.hidden_size();
  embedding = register_module("embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(o.vocab_size(), o.embedding_size()).padding_idx(o.pad())));
  const bool attend = o.decoder() == CaptionDecoder::attend;
  lstm = register_module("lstm", Recurrent(RecurrentOptions(o.embedding_size() + (attend ? C : 0), H).cell(CellKind::lstm)));
  init_h = register_module("init_h", torch::nn::Linear(C, H));
  init_c = register_module("init_c", torch::nn::Linear(C, H));
  if (attend) {
    attention = register_module("attention", Attention(AttentionOptions(H, C).kind(AttentionKind::additive).attention_size(o.attention_size())));
    gate = register_module("gate", torch::nn::Linear(H, C));
  }
  output = register_module("output", torch::nn::Linear(H, o.vocab_size()));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  pixel_mean = register_buffer("pixel_mean", pixel_statistics(o.mean()));
  pixel_std = register_buffer("pixel_std", pixel_statistics(o.std()));
}

torch::Tensor normalize_pixels(const torch::Tensor& images, const torch::Tensor& mean, const torch::Tensor& std,
                               int64_t image_size) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "expected images [B, 3, S, S], got ", images.sizes());
  TORCH_CHECK(images.size(2) == image_size && images.size(3) == image_size, "expected ", image_size, " x ", image_size,
              " images, got ", images.size(2), " x ", images.size(3), " (resize them first)");
  return (images.to(mean.device(), mean.scalar_type()) - mean) / std;
}

torch::Tensor pixel_statistics(const std::vector<double>& values) {
  TORCH_CHECK(values.size() == 3, "pixel mean and std need 3 values each, got ", values.size());
  return torch::tensor(values, torch::kDouble).mul(255).to(torch::kFloat).view({1, 3, 1, 1});
}

torch::Tensor CaptionerImpl::normalize(const torch::Tensor& images) const {
  return normalize_pixels(images, pixel_mean, pixel_std, options.image_size());
}

torch::Tensor CaptionerImpl::encode(const torch::Tensor& x) { return encoder->forward(x); }

CaptionState CaptionerImpl::initial_state(const torch::Tensor& features) {
  const auto pooled = features.mean(1);
  return {{torch::tanh(init_h->forward(pooled)).unsqueeze(0), torch::tanh(init_c->forward(pooled)).unsqueeze(0)}};
}

AttentionMemory CaptionerImpl::memory(const torch::Tensor& features) {
  if (attention) return attention->prepare(features.transpose(0, 1), torch::Tensor());
  return {features, features, torch::Tensor()};
}

namespace {

// One decoder step up to the LSTM's output: hidden [B, H], before dropout and the output layer.
struct DecoderStep {
  torch::Tensor hidden;
  CaptionState state;
  torch::Tensor attention;  // [B, N] (attend), undefined (show_tell)
};

DecoderStep decoder_step(CaptionerImpl& m, const torch::Tensor& tokens, const CaptionState& state,
                         const AttentionMemory& memory) {
  auto e = m.dropout->forward(m.embedding->forward(tokens));  // [B, E]
  DecoderStep out;
  if (m.attention) {
    const auto h = state.rnn.h[0];
    auto att = m.attention->forward(h, memory);
    auto context = torch::sigmoid(m.gate->forward(h)) * att.context;
    e = torch::cat({e, context}, 1);
    out.attention = att.weights;
  }
  auto r = m.lstm->forward(e.unsqueeze(0), state.rnn);
  out.state = {r.state};
  out.hidden = r.output[0];
  return out;
}

}  // namespace

CaptionStepOutput CaptionerImpl::step(const torch::Tensor& tokens, const CaptionState& state, const AttentionMemory& memory) {
  DecoderStep d = decoder_step(*this, tokens, state, memory);
  return {output->forward(dropout->forward(d.hidden)), d.state, d.attention};
}

CaptionForwardOutput CaptionerImpl::forward(const torch::Tensor& images, const torch::Tensor& inputs) {
  TORCH_CHECK(inputs.dim() == 2 && inputs.size(1) == images.size(0), "captioner: expected inputs [T, ", images.size(0),
              "], got ", inputs.sizes());
  const auto features = encode(normalize(images));
  const auto init = initial_state(features);
  CaptionForwardOutput out;
  if (!attention) {
    auto e = dropout->forward(embedding->forward(inputs));  // [T, B, E]
    auto r = lstm->forward(e, init.rnn);
    out.logits = output->forward(dropout->forward(r.output));
    return out;
  }
  const auto mem = memory(features);
  CaptionState state = init;
  std::vector<torch::Tensor> hidden, weights;
  cpu_kernel::PackingScope packing;  // the LSTM's weights packed once for all T steps (CPU)
  for (int64_t t = 0; t < inputs.size(0); ++t) {
    DecoderStep d = decoder_step(*this, inputs[t], state, mem);
    hidden.push_back(d.hidden);
    weights.push_back(d.attention);
    state = d.state;
  }
  // The output layer once over all T steps (no step reads its logits back): one product and
  // one [V, H] weight gradient instead of T of each.
  out.logits = output->forward(dropout->forward(torch::stack(hidden)));
  out.attention = torch::stack(weights);
  return out;
}

}  // namespace seqtorch::nn
