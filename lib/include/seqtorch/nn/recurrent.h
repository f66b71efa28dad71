#pragma once
// The recurrent layer: a stack of RNN, LSTM or GRU layers, one or two directions, variable
// lengths, optional initial state. PyTorch's option and parameter names, so a state dict moves
// between seqtorch::nn::Recurrent and torch.nn.RNN / LSTM / GRU unchanged.
//
// Parameters per layer l and direction (suffix "_reverse" for the backward one):
//   weight_ih_l{l} [G, I_l], weight_hh_l{l} [G, H], bias_ih_l{l} [G], bias_hh_l{l} [G]
// with G = H (RNN), 4H (LSTM), 3H (GRU), I_0 = input_size and I_l = D*H above.
#include <seqtorch/nn/cells.h>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace seqtorch::nn {

/// How the layer computes. Each gives the same numbers (tested); they differ in speed.
enum class Implementation {
  /// Picks the fastest available for the device: `kernel` on the CPU (float32/float64), `fused`
  /// elsewhere (cuDNN on CUDA) and while tracing for TorchScript export.
  automatic,
  /// Explicit per-step cell math mirroring the equations in cells.h; the only one that exposes
  /// the per-step hidden states (RecurrentOutput::steps) for gradient diagnostics.
  reference,
  /// ATen's fused ops (torch::lstm, torch::gru, torch::rnn_tanh, torch::rnn_relu): cuDNN on CUDA.
  fused,
  /// seqtorch's own CPU kernel (cpu_kernel.h): one GEMM for all input projections, per step one
  /// GEMM and one pass over the gate math, one autograd node per layer and direction whose
  /// backward computes the weight gradients as single GEMMs. CPU, float32 and float64 only.
  kernel,
};
/// "automatic", "reference", "fused", "kernel".
std::string to_string(Implementation implementation);
/// Parses "automatic" | "auto" | "reference" | "fused" | "kernel"; throws naming the valid values otherwise.
Implementation parse_implementation(const std::string& name);

/// Options of the recurrent layer (PyTorch's names where PyTorch has the option).
struct RecurrentOptions {
  RecurrentOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  /// Cell kind of every layer.
  TORCH_ARG(CellKind, cell) = CellKind::lstm;
  /// Width I of the input.
  TORCH_ARG(int64_t, input_size);
  /// Width H of each direction's hidden state.
  TORCH_ARG(int64_t, hidden_size);
  /// Number L of stacked layers.
  TORCH_ARG(int64_t, num_layers) = 1;
  /// Activation of the plain RNN cell.
  TORCH_ARG(Nonlinearity, nonlinearity) = Nonlinearity::tanh;
  /// Whether each layer has the biases b_ih and b_hh.
  TORCH_ARG(bool, bias) = true;
  /// Input and output as [B, T, .] instead of [T, B, .]. States stay [L*D, B, H].
  TORCH_ARG(bool, batch_first) = false;
  /// Dropout probability on the outputs of every layer but the last, in training mode.
  TORCH_ARG(double, dropout) = 0.0;
  /// Two directions, their outputs concatenated: D = 2.
  TORCH_ARG(bool, bidirectional) = false;
  /// Which implementation computes the layer.
  TORCH_ARG(Implementation, implementation) = Implementation::automatic;
  /// Orthogonal initial W_hh (each gate block separately) instead of PyTorch's uniform.
  TORCH_ARG(bool, orthogonal_init) = false;
  /// Initial LSTM forget-gate bias (b_ih + b_hh of the forget gate); NaN keeps PyTorch's uniform.
  TORCH_ARG(double, forget_bias) = std::numeric_limits<double>::quiet_NaN();
};

/// State of the whole layer: `h` [L*D, B, H]; `c` [L*D, B, H] for the LSTM, undefined otherwise.
/// Row l*D + d holds layer l, direction d (0 forward, 1 backward), as in PyTorch.
struct RecurrentState {
  torch::Tensor h;
  torch::Tensor c;
};

/// What the layer returns.
struct RecurrentOutput {
  /// Top layer's outputs, directions concatenated: [T, B, D*H] ([B, T, D*H] if batch_first).
  /// Zero at padded steps (t >= length).
  torch::Tensor output;
  /// Final state of every layer and direction; with lengths, each sequence's state at its own
  /// last real step (for the backward direction: after reading step 0).
  RecurrentState state;
  /// `reference` implementation only: the top layer's forward-direction hidden states h(t),
  /// T tensors [B, H], the very nodes of the autograd graph, so dLoss/dh(t) can be asked of them
  /// (see gradients.h). Empty for `fused`.
  std::vector<torch::Tensor> steps;
};

/// Stacked, optionally bidirectional RNN / LSTM / GRU layer.
class RecurrentImpl : public torch::nn::Module {
 public:
  explicit RecurrentImpl(const RecurrentOptions& options);
  /// Initialises every parameter as the options say (PyTorch's uniform by default).
  void reset_parameters();

  /// input [T, B, I] ([B, T, I] if batch_first); state: initial {h, c} [L*D, B, H] or undefined
  /// (zeros); lengths: [B] integers in [1, T] (any device) or undefined (all T).
  RecurrentOutput forward(const torch::Tensor& input, const RecurrentState& state = {},
                          const torch::Tensor& lengths = {});

  /// Parameters of layer l, direction d, in the fused ops' order: w_ih, w_hh[, b_ih, b_hh].
  std::vector<torch::Tensor> layer_parameters(int64_t layer, int64_t direction) const;
  /// Number D of directions (1 or 2).
  int64_t num_directions() const { return options.bidirectional() ? 2 : 1; }
  /// Width of `output`'s last dimension: D*H.
  int64_t output_size() const { return num_directions() * options.hidden_size(); }
  /// The implementation that runs for inputs on `device` with the parameters' dtype: the chosen
  /// one, except that `automatic` resolves to `kernel` where that runs (CPU, float32/float64)
  /// and to `fused` elsewhere. An explicit `kernel` on other tensors is an error at forward.
  Implementation resolved_implementation(const torch::Device& device) const;

  RecurrentOptions options;

 private:
  RecurrentOutput forward_reference(const torch::Tensor& x, const RecurrentState& state,
                                    const torch::Tensor& lengths);
  RecurrentOutput forward_fused(const torch::Tensor& x, const RecurrentState& state,
                                const torch::Tensor& lengths);
  RecurrentOutput forward_kernel(const torch::Tensor& x, const RecurrentState& state,
                                 const torch::Tensor& lengths);
  // On CUDA: makes `params` views of one cuDNN weight buffer, unless they already are.
  void flatten_for_cudnn(const std::vector<torch::Tensor>& params);

  // [layer * D + direction] -> {w_ih, w_hh, b_ih, b_hh} (biases undefined without bias).
  std::vector<std::vector<torch::Tensor>> weights_;
  // The cuDNN weight buffer the parameters are views of (undefined until a CUDA forward).
  torch::Tensor cudnn_weight_buf_;
};
TORCH_MODULE(Recurrent);

}  // namespace seqtorch::nn
