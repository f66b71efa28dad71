#include <seqtorch/nn/init.h>

#include <torch/torch.h>

#include <cmath>

namespace seqtorch::nn {

void init_uniform_(torch::Tensor& weight, int64_t hidden_size) {
  TORCH_CHECK(hidden_size > 0, "init_uniform_: hidden_size: expected > 0, got ", hidden_size);
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  torch::NoGradGuard no_grad;
  weight.uniform_(-bound, bound);
}

void init_orthogonal_blocks_(torch::Tensor& w_hh, int64_t blocks) {
  TORCH_CHECK(w_hh.dim() == 2 && blocks > 0 && w_hh.size(0) == blocks * w_hh.size(1),
              "init_orthogonal_blocks_: expected W_hh of shape [", blocks, "*H, H], got ",
              w_hh.sizes());
  torch::NoGradGuard no_grad;
  for (auto block : w_hh.chunk(blocks, 0)) torch::nn::init::orthogonal_(block);
}

void init_forget_bias_(torch::Tensor& b_ih, torch::Tensor& b_hh, double value) {
  TORCH_CHECK(b_ih.defined() && b_ih.dim() == 1 && b_ih.size(0) % 4 == 0,
              "init_forget_bias_: expected an LSTM bias of shape [4H], got ",
              b_ih.defined() ? b_ih.sizes() : torch::IntArrayRef{});
  torch::NoGradGuard no_grad;
  b_ih.chunk(4, 0)[1].fill_(value);
  if (b_hh.defined()) b_hh.chunk(4, 0)[1].zero_();
}

}  // namespace seqtorch::nn
