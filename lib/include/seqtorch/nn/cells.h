#pragma once
// Recurrent cells: one time step of the tanh/ReLU RNN, the LSTM and the GRU.
//
// Shape legend (all of seqtorch): T time, B batch, I input width, H hidden width, G gate width
// (H for RNN, 4H for LSTM, 3H for GRU), V vocabulary, D directions, L layers.
//
// The equations and gate orders are PyTorch's, so weights move between seqtorch and torch.nn
// unchanged:
//   RNN : h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)
//   LSTM: [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh
//         i, f, o = sigmoid(.), g = tanh(.);  c' = f * c + i * g;  h' = o * tanh(c')
//   GRU : [r_i z_i n_i] = x W_ih^T + b_ih,  [r_h z_h n_h] = h W_hh^T + b_hh
//         r = sigmoid(r_i + r_h), z = sigmoid(z_i + z_h), n = tanh(n_i + r * n_h)
//         h' = (1 - z) * n + z * h          (the reset gate applies after the recurrent product)
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace seqtorch::nn {

/// The three cell kinds of the recurrent layer.
enum class CellKind { rnn, lstm, gru };
/// Activation of the plain RNN cell (and of the Elman RNN).
enum class Nonlinearity { tanh, relu };

/// "rnn", "lstm", "gru".
std::string to_string(CellKind kind);
/// "tanh", "relu".
std::string to_string(Nonlinearity nonlinearity);
/// Parses "rnn" | "lstm" | "gru"; throws naming the valid values otherwise.
CellKind parse_cell_kind(const std::string& name);
/// Parses "tanh" | "relu"; throws naming the valid values otherwise.
Nonlinearity parse_nonlinearity(const std::string& name);
/// Number of gate blocks stacked in W_ih / W_hh: 1 (RNN), 4 (LSTM), 3 (GRU).
int64_t gate_count(CellKind kind);

/// A cell's recurrent state: `h` [B, H]; `c` [B, H] for the LSTM, undefined otherwise.
struct CellState {
  torch::Tensor h;
  torch::Tensor c;
};

// Step functions shared by the cell modules and the layer's `reference` implementation.
// They take the input projection `gi` = x W_ih^T + b_ih, [B, G], already computed (the layer
// computes it for all T steps in one product) and do the rest of one step.
// w_hh [G, H]; b_hh [G] or undefined (no bias).

/// One RNN step. gi [B, H], h [B, H] -> h' [B, H].
torch::Tensor rnn_step(const torch::Tensor& gi, const torch::Tensor& h, const torch::Tensor& w_hh,
                       const torch::Tensor& b_hh, Nonlinearity nonlinearity);
/// One LSTM step. gi [B, 4H], state.h and state.c [B, H] -> {h', c'}.
CellState lstm_step(const torch::Tensor& gi, const CellState& state, const torch::Tensor& w_hh,
                    const torch::Tensor& b_hh);
/// One GRU step. gi [B, 3H], h [B, H] -> h' [B, H].
torch::Tensor gru_step(const torch::Tensor& gi, const torch::Tensor& h, const torch::Tensor& w_hh,
                       const torch::Tensor& b_hh);

/// Options of RNNCell, LSTMCell and GRUCell (PyTorch's names).
struct CellOptions {
  CellOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  /// Width I of the input x.
  TORCH_ARG(int64_t, input_size);
  /// Width H of the hidden state.
  TORCH_ARG(int64_t, hidden_size);
  /// Whether the cell has the biases b_ih and b_hh.
  TORCH_ARG(bool, bias) = true;
  /// Activation of RNNCell (ignored by LSTMCell and GRUCell).
  TORCH_ARG(Nonlinearity, nonlinearity) = Nonlinearity::tanh;
};

/// Base of the three cells: parameters `weight_ih` [G, I], `weight_hh` [G, H], `bias_ih` [G],
/// `bias_hh` [G] (PyTorch's names), initialised uniform(-1/sqrt(H), 1/sqrt(H)).
class CellBase : public torch::nn::Module {
 public:
  CellBase(const CellOptions& options, CellKind kind);
  /// Re-draws every parameter from uniform(-1/sqrt(H), 1/sqrt(H)).
  void reset_parameters();
  /// One step from the input x [B, I] and state (h, and c for the LSTM) [B, H]; an undefined
  /// state means zeros.
  CellState step(const torch::Tensor& x, const CellState& state = {});

  CellOptions options;
  CellKind kind;
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

/// Elman cell: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).
class RNNCellImpl : public CellBase {
 public:
  explicit RNNCellImpl(const CellOptions& options) : CellBase(options, CellKind::rnn) {}
  /// x [B, I], h [B, H] (undefined: zeros) -> h' [B, H].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& h = {});
};
TORCH_MODULE(RNNCell);

/// LSTM cell with PyTorch's gate order (input, forget, cell, output).
class LSTMCellImpl : public CellBase {
 public:
  explicit LSTMCellImpl(const CellOptions& options) : CellBase(options, CellKind::lstm) {}
  /// x [B, I], state {h, c} [B, H] (undefined: zeros) -> {h', c'} [B, H].
  CellState forward(const torch::Tensor& x, const CellState& state = {});
};
TORCH_MODULE(LSTMCell);

/// GRU cell with PyTorch's equations (reset gate after the recurrent product).
class GRUCellImpl : public CellBase {
 public:
  explicit GRUCellImpl(const CellOptions& options) : CellBase(options, CellKind::gru) {}
  /// x [B, I], h [B, H] (undefined: zeros) -> h' [B, H].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& h = {});
};
TORCH_MODULE(GRUCell);

}  // namespace seqtorch::nn
