#pragma once
// Initialisers for recurrent weights. All work in place without recording autograd history.
#include <torch/types.h>

#include <cstdint>

namespace seqtorch::nn {

/// PyTorch's default for recurrent layers and cells: every element uniform(-1/sqrt(H), 1/sqrt(H)).
void init_uniform_(torch::Tensor& weight, int64_t hidden_size);

/// W_hh [blocks*H, H]: each [H, H] gate block made a random orthogonal matrix (Saxe et al.), so
/// the recurrent product neither shrinks nor grows the state at the start of training.
void init_orthogonal_blocks_(torch::Tensor& w_hh, int64_t blocks);

/// LSTM biases [4H]: the forget-gate block (the 2nd) set so that b_ih + b_hh = value
/// (b_ih = value, b_hh = 0), the other blocks unchanged. b_hh may be undefined.
void init_forget_bias_(torch::Tensor& b_ih, torch::Tensor& b_hh, double value);

}  // namespace seqtorch::nn
