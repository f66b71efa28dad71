#pragma once
// The Elman RNN exactly as the seed note writes it (§3):
//   a(t) = b + W h(t-1) + U x(t)
//   h(t) = tanh(a(t))            (ReLU selectable)
//   o(t) = c + V h(t)
//   y(t) = softmax(o(t))         (left to the loss: forward returns o)
// Parameters: U [H, I] input to hidden, W [H, H] hidden to hidden, V [O, H] hidden to output,
// b [H], c [O]. Column-vector notation as in the note; in code each row of a batch is x(t)^T.
#include <seqtorch/nn/cells.h>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>
#include <vector>

namespace seqtorch::nn {

/// Options of the Elman RNN.
struct ElmanRNNOptions {
  ElmanRNNOptions(int64_t input_size, int64_t hidden_size, int64_t output_size)
      : input_size_(input_size), hidden_size_(hidden_size), output_size_(output_size) {}
  /// Width I of x(t).
  TORCH_ARG(int64_t, input_size);
  /// Width H of h(t).
  TORCH_ARG(int64_t, hidden_size);
  /// Width O of o(t) (the number of classes for a discrete output).
  TORCH_ARG(int64_t, output_size);
  /// f in h(t) = f(a(t)).
  TORCH_ARG(Nonlinearity, nonlinearity) = Nonlinearity::tanh;
  /// Input and output as [B, T, .] instead of [T, B, .].
  TORCH_ARG(bool, batch_first) = false;
};

/// What the Elman RNN returns.
struct ElmanOutput {
  /// o(t) for every step: [T, B, O] ([B, T, O] if batch_first).
  torch::Tensor output;
  /// h(t) for every step: [T, B, H] ([B, T, H] if batch_first).
  torch::Tensor hidden;
  /// The same h(t) as T tensors [B, H] that are the autograd graph's own nodes, for
  /// hidden_gradient_norms (gradients.h).
  std::vector<torch::Tensor> steps;
};

/// The seed note's RNN, parameters named U, W, V, b, c; initialised uniform(-1/sqrt(H), 1/sqrt(H)).
class ElmanRNNImpl : public torch::nn::Module {
 public:
  explicit ElmanRNNImpl(const ElmanRNNOptions& options);
  void reset_parameters();
  /// x [T, B, I] ([B, T, I] if batch_first), h0 [B, H] or undefined (zeros).
  ElmanOutput forward(const torch::Tensor& x, const torch::Tensor& h0 = {});

  ElmanRNNOptions options;
  torch::Tensor U, W, V, b, c;
};
TORCH_MODULE(ElmanRNN);

}  // namespace seqtorch::nn
