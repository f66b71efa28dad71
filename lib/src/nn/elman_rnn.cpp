#include <seqtorch/nn/elman_rnn.h>
#include <seqtorch/nn/init.h>

#include <torch/torch.h>

namespace seqtorch::nn {

ElmanRNNImpl::ElmanRNNImpl(const ElmanRNNOptions& options_) : options(options_) {
  const int64_t I = options.input_size(), H = options.hidden_size(), O = options.output_size();
  TORCH_CHECK(I > 0 && H > 0 && O > 0,
              "ElmanRNN: input_size, hidden_size and output_size: expected > 0, got ", I, ", ",
              H, ", ", O);
  U = register_parameter("U", torch::empty({H, I}));
  W = register_parameter("W", torch::empty({H, H}));
  V = register_parameter("V", torch::empty({O, H}));
  b = register_parameter("b", torch::empty({H}));
  c = register_parameter("c", torch::empty({O}));
  reset_parameters();
}

void ElmanRNNImpl::reset_parameters() {
  for (auto& p : parameters()) init_uniform_(p, options.hidden_size());
}

ElmanOutput ElmanRNNImpl::forward(const torch::Tensor& input, const torch::Tensor& h0) {
  const char* name = "ElmanRNN";
  TORCH_CHECK(input.defined() && input.dim() == 3, name, ": input rank: expected 3 (",
              options.batch_first() ? "[B, T, I]" : "[T, B, I]", "), got ",
              input.defined() ? input.dim() : 0);
  TORCH_CHECK(input.size(2) == options.input_size(), name, ": input width: expected ",
              options.input_size(), ", got ", input.size(2));
  TORCH_CHECK(input.device() == U.device(), name, ": input on ", input.device(),
              " but parameters on ", U.device());
  TORCH_CHECK(input.scalar_type() == U.scalar_type(), name, ": input dtype ",
              input.scalar_type(), " but parameters ", U.scalar_type());
  torch::Tensor x = options.batch_first() ? input.transpose(0, 1) : input;  // [T, B, I]
  const int64_t T = x.size(0), B = x.size(1), H = options.hidden_size();
  torch::Tensor h = h0;  // [B, H]
  if (h.defined()) {
    TORCH_CHECK(h.sizes() == torch::IntArrayRef({B, H}), name, ": h0 shape: expected [", B, ", ",
                H, "], got ", h.sizes());
    TORCH_CHECK(h.device() == x.device(), name, ": h0 on ", h.device(), " but input on ",
                x.device());
  } else {
    h = torch::zeros({B, H}, x.options());
  }
  ElmanOutput out;
  // U x(t) + b for every t in one product: [T, B, H].
  const torch::Tensor ux = torch::nn::functional::linear(x, U, b);
  for (int64_t t = 0; t < T; ++t) {
    torch::Tensor a = ux[t] + torch::mm(h, W.t());  // a(t) = b + W h(t-1) + U x(t)
    h = options.nonlinearity() == Nonlinearity::tanh ? torch::tanh(a) : torch::relu(a);
    out.steps.push_back(h);
  }
  out.hidden = torch::stack(out.steps);                                  // [T, B, H]
  out.output = torch::nn::functional::linear(out.hidden, V, c);          // o(t) = c + V h(t)
  if (options.batch_first()) {
    out.hidden = out.hidden.transpose(0, 1);
    out.output = out.output.transpose(0, 1);
  }
  return out;
}

}  // namespace seqtorch::nn
