#pragma once
// seqtorch's own CPU kernel for one direction of one recurrent layer (RNN tanh/ReLU, LSTM, GRU;
// float32 and float64). It is what Implementation::kernel runs, and what `automatic` picks on the
// CPU. The work per layer and direction:
//   forward : the input projections of all T steps in one GEMM; per step one product h W_hh^T
//             for all gates (see StepProduct) and one pass over the gate math (no per-gate
//             tensors, no autograd node per step); activations kept for the backward pass.
//   backward: one custom autograd node per layer and direction; per step (in reverse) one pass
//             computing all gate gradients and one product for dh(t-1); then the input gradient
//             and the weight gradients as single GEMMs over all T*B rows (inside a PackingScope
//             the weight gradients over the rows of all the scope's calls: see PackingScope).
// Variable lengths: rows with t >= length keep their state and output zero (as `reference`).
// The backward pass is not itself differentiable (no double backward).
#include <seqtorch/nn/cells.h>

namespace seqtorch::nn::cpu_kernel {

/// Whether the kernel can run a layer whose parameters are like `weight`: CPU, float32/float64.
bool supports(const torch::Tensor& weight);

/// How the per-step products with W_hh run. `automatic`: for float32 on a CPU with AVX-512 F,
/// W_hh is packed once per layer call (forward and backward) and every step computed in
/// seqtorch's own tiles by a team of threads that stays together over the T steps (each thread
/// owns a range of hidden units: their products and their gate math, one barrier per step);
/// otherwise, and with `blas`, torch's matrix product (OpenBLAS here) per step. Process-wide;
/// for tests and benchmarks.
enum class StepProduct { automatic, blas };
void set_step_product(StepProduct product);
StepProduct step_product();
/// Whether float32 layers take the packed path here (a CPU with AVX-512 F, `automatic`).
bool packs_steps();

/// While one lives on a thread, the kernel keeps the packing of each layer's weights it meets
/// (W_hh's forward and backward panels; W_ih's for the steps' input projections and, LSTM and
/// RNN, input gradients) for later calls with the same weights, as long as a weight is not
/// changed (its version counter). For decoders that run a layer one step at a time (translate,
/// caption): the T calls of a pass, and their T backward passes, share one packing instead of
/// packing W_hh 2T times (and OpenBLAS packing W_ih 2T times). The weight gradients of those calls are deferred too: each
/// step's backward keeps its gate gradients, and the layer's weight and bias gradients are
/// computed once, in one product over the rows of all the steps that the backward pass reached
/// (per step they were products over B rows, memory-bound, each then added into the weights'
/// gradients); any CPU, float32 or float64. Open one around such a loop, not around a training
/// step (the optimiser's update changes the weights: the next call packs again, correctly, but
/// the old packing is held until the scope ends). Nested scopes share the outermost one.
class PackingScope {
 public:
  PackingScope();
  ~PackingScope();
  PackingScope(const PackingScope&) = delete;
  PackingScope& operator=(const PackingScope&) = delete;

 private:
  bool owner_;
};

/// How many times this process has packed a recurrent weight (forward and backward panels count
/// one each); for tests.
int64_t packings();

/// How many deferred weight-gradient products (see PackingScope) this process has computed; for
/// tests.
int64_t deferred_products();

/// Which cell and which way through time.
struct LayerSpec {
  CellKind cell = CellKind::lstm;
  Nonlinearity nonlinearity = Nonlinearity::tanh;
  /// Backward direction: step T-1 first (each sequence from its own last real step).
  bool reverse = false;
};

/// Results of one direction of one layer.
struct LayerOutput {
  torch::Tensor output;  // [T, B, H], zero at padded steps
  torch::Tensor h;       // [B, H] final state
  torch::Tensor c;       // [B, H] final cell state (LSTM), undefined otherwise
};

/// Runs one direction of one layer. x [T, B, I]; h0 (and c0 for the LSTM) [B, H]; w_ih [G, I],
/// w_hh [G, H], b_ih and b_hh [G] or both undefined; lengths: CPU int64 [B] or undefined.
/// Differentiable in x, h0, c0 and the weights through one autograd node when grad mode is on.
LayerOutput run_layer(const LayerSpec& spec, const torch::Tensor& x, const torch::Tensor& h0,
                      const torch::Tensor& c0, const torch::Tensor& w_ih,
                      const torch::Tensor& w_hh, const torch::Tensor& b_ih,
                      const torch::Tensor& b_hh, const torch::Tensor& lengths);

}  // namespace seqtorch::nn::cpu_kernel
