#include <seqtorch/nn/rcnn.h>

#include <torch/torch.h>

namespace seqtorch::nn {

namespace {

torch::nn::LocalResponseNorm make_lrn(int64_t channels) {
  return torch::nn::LocalResponseNorm(
      torch::nn::LocalResponseNormOptions(channels / 8 + 1).alpha(1e-3).beta(0.75));
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t k, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).padding(k / 2).bias(bias));
}

// ReLU then (optionally) LRN: the g(f(.)) of the RCL, also used by the plain layers.
struct ActivationImpl : torch::nn::Module {
  ActivationImpl(int64_t channels, bool lrn) {
    if (lrn) norm = register_module("norm", make_lrn(channels));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(x);
    return norm ? norm(y) : y;
  }
  torch::nn::LocalResponseNorm norm = nullptr;
};
TORCH_MODULE(Activation);

}  // namespace

RecurrentConv2dImpl::RecurrentConv2dImpl(const RecurrentConv2dOptions& o) : options(o) {
  TORCH_CHECK(o.in_channels() >= 1, "RecurrentConv2d: in_channels: expected >= 1, got ", o.in_channels());
  TORCH_CHECK(o.out_channels() >= 1, "RecurrentConv2d: out_channels: expected >= 1, got ", o.out_channels());
  TORCH_CHECK(o.kernel_size() >= 1 && o.kernel_size() % 2 == 1,
              "RecurrentConv2d: kernel_size: expected an odd number >= 1, got ", o.kernel_size());
  TORCH_CHECK(o.steps() >= 0, "RecurrentConv2d: steps: expected >= 0, got ", o.steps());
  reset();
}

void RecurrentConv2dImpl::reset() {
  feed_forward = register_module(
      "feed_forward", make_conv(options.in_channels(), options.out_channels(), options.kernel_size(), true));
  recurrent = register_module(
      "recurrent", make_conv(options.out_channels(), options.out_channels(), options.kernel_size(), false));
  if (options.lrn()) norm = register_module("norm", make_lrn(options.out_channels()));
}

torch::Tensor RecurrentConv2dImpl::forward(const torch::Tensor& u) {
  TORCH_CHECK(u.dim() == 4 && u.size(1) == options.in_channels(),
              "RecurrentConv2d: input: expected [B, ", options.in_channels(), ", H, W], got ",
              u.sizes());
  auto g = [&](const torch::Tensor& z) {
    torch::Tensor y = torch::relu(z);
    return norm ? norm(y) : y;
  };
  const torch::Tensor ff = feed_forward(u);  // w_f * u + b, once for all steps
  torch::Tensor x = g(ff);
  for (int64_t t = 1; t <= options.steps(); ++t) x = g(ff + recurrent(x));
  return x;
}

RCNNImpl::RCNNImpl(const RCNNOptions& o) : options(o) {
  TORCH_CHECK(o.in_channels() >= 1, "RCNN: in_channels: expected >= 1, got ", o.in_channels());
  TORCH_CHECK(o.classes() >= 2, "RCNN: classes: expected >= 2, got ", o.classes());
  TORCH_CHECK(o.channels() >= 1, "RCNN: channels: expected >= 1, got ", o.channels());
  TORCH_CHECK(o.blocks() >= 1, "RCNN: blocks: expected >= 1, got ", o.blocks());
  TORCH_CHECK(o.stem_kernel() >= 1 && o.stem_kernel() % 2 == 1,
              "RCNN: stem_kernel: expected an odd number >= 1, got ", o.stem_kernel());
  TORCH_CHECK(o.dropout() >= 0 && o.dropout() < 1, "RCNN: dropout: expected in [0, 1), got ", o.dropout());
  const int64_t K = o.channels();
  features = torch::nn::Sequential();
  features->push_back("stem", make_conv(o.in_channels(), K, o.stem_kernel(), true));
  features->push_back("stem_act", Activation(K, true));
  if (o.stem_pool()) features->push_back("stem_pool", torch::nn::MaxPool2d(2));
  for (int64_t i = 0; i < o.blocks(); ++i) {
    if (i > 0) features->push_back("pool" + std::to_string(i), torch::nn::MaxPool2d(2));
    const std::string name = "block" + std::to_string(i);
    if (o.recurrent()) {
      features->push_back(std::string(name), RecurrentConv2d(RecurrentConv2dOptions(K, K).steps(o.steps())));
    } else {
      features->push_back(std::string(name + "a"), make_conv(K, K, 3, true));
      features->push_back(name + "a_act", Activation(K, true));
      features->push_back(name + "b", make_conv(K, K, 3, true));
      features->push_back(name + "b_act", Activation(K, true));
    }
  }
  register_module("features", features);
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  classifier = register_module("classifier", torch::nn::Linear(K, o.classes()));
}

torch::Tensor RCNNImpl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == options.in_channels(),
              "RCNN: images: expected [B, ", options.in_channels(), ", H, W], got ", images.sizes());
  torch::Tensor x = features->forward(images);                // [B, K, H', W']
  x = std::get<0>(x.flatten(2).max(2));                        // global max pool: [B, K]
  return classifier(dropout(x));
}

}  // namespace seqtorch::nn
