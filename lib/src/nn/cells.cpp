#include <seqtorch/nn/cells.h>
#include <seqtorch/nn/init.h>

#include <torch/torch.h>

namespace seqtorch::nn {

std::string to_string(CellKind kind) {
  switch (kind) {
    case CellKind::rnn: return "rnn";
    case CellKind::lstm: return "lstm";
    case CellKind::gru: return "gru";
  }
  return "?";
}

std::string to_string(Nonlinearity nonlinearity) {
  return nonlinearity == Nonlinearity::tanh ? "tanh" : "relu";
}

CellKind parse_cell_kind(const std::string& name) {
  if (name == "rnn") return CellKind::rnn;
  if (name == "lstm") return CellKind::lstm;
  if (name == "gru") return CellKind::gru;
  TORCH_CHECK(false, "cell: expected rnn, lstm or gru, got '", name, "'");
}

Nonlinearity parse_nonlinearity(const std::string& name) {
  if (name == "tanh") return Nonlinearity::tanh;
  if (name == "relu") return Nonlinearity::relu;
  TORCH_CHECK(false, "nonlinearity: expected tanh or relu, got '", name, "'");
}

int64_t gate_count(CellKind kind) {
  switch (kind) {
    case CellKind::rnn: return 1;
    case CellKind::lstm: return 4;
    case CellKind::gru: return 3;
  }
  return 1;
}

namespace {
// h W_hh^T + b_hh, [B, G].
torch::Tensor recurrent_product(const torch::Tensor& h, const torch::Tensor& w_hh,
                                const torch::Tensor& b_hh) {
  return b_hh.defined() ? torch::addmm(b_hh, h, w_hh.t()) : torch::mm(h, w_hh.t());
}
}  // namespace

torch::Tensor rnn_step(const torch::Tensor& gi, const torch::Tensor& h, const torch::Tensor& w_hh,
                       const torch::Tensor& b_hh, Nonlinearity nonlinearity) {
  torch::Tensor a = gi + recurrent_product(h, w_hh, b_hh);
  return nonlinearity == Nonlinearity::tanh ? torch::tanh(a) : torch::relu(a);
}

CellState lstm_step(const torch::Tensor& gi, const CellState& state, const torch::Tensor& w_hh,
                    const torch::Tensor& b_hh) {
  auto gates = (gi + recurrent_product(state.h, w_hh, b_hh)).chunk(4, 1);
  torch::Tensor i = torch::sigmoid(gates[0]);
  torch::Tensor f = torch::sigmoid(gates[1]);
  torch::Tensor g = torch::tanh(gates[2]);
  torch::Tensor o = torch::sigmoid(gates[3]);
  torch::Tensor c = f * state.c + i * g;
  return {o * torch::tanh(c), c};
}

torch::Tensor gru_step(const torch::Tensor& gi, const torch::Tensor& h, const torch::Tensor& w_hh,
                       const torch::Tensor& b_hh) {
  auto in = gi.chunk(3, 1);
  auto hh = recurrent_product(h, w_hh, b_hh).chunk(3, 1);
  torch::Tensor r = torch::sigmoid(in[0] + hh[0]);
  torch::Tensor z = torch::sigmoid(in[1] + hh[1]);
  torch::Tensor n = torch::tanh(in[2] + r * hh[2]);
  return (1 - z) * n + z * h;
}

CellBase::CellBase(const CellOptions& options_, CellKind kind_) : options(options_), kind(kind_) {
  TORCH_CHECK(options.input_size() > 0, "cell: input_size: expected > 0, got ",
              options.input_size());
  TORCH_CHECK(options.hidden_size() > 0, "cell: hidden_size: expected > 0, got ",
              options.hidden_size());
  const int64_t g = gate_count(kind) * options.hidden_size();
  weight_ih = register_parameter("weight_ih", torch::empty({g, options.input_size()}));
  weight_hh = register_parameter("weight_hh", torch::empty({g, options.hidden_size()}));
  if (options.bias()) {
    bias_ih = register_parameter("bias_ih", torch::empty({g}));
    bias_hh = register_parameter("bias_hh", torch::empty({g}));
  }
  reset_parameters();
}

void CellBase::reset_parameters() {
  for (auto& p : parameters()) init_uniform_(p, options.hidden_size());
}

CellState CellBase::step(const torch::Tensor& x, const CellState& state) {
  const std::string name = to_string(kind) + " cell";
  TORCH_CHECK(x.dim() == 2, name, ": input rank: expected 2 ([B, I]), got ", x.dim(),
              " (shape ", x.sizes(), ")");
  TORCH_CHECK(x.size(1) == options.input_size(), name, ": input width: expected ",
              options.input_size(), ", got ", x.size(1));
  TORCH_CHECK(x.device() == weight_ih.device(), name, ": input on ", x.device(),
              " but parameters on ", weight_ih.device());
  const std::vector<int64_t> expected{x.size(0), options.hidden_size()};
  auto checked = [&](const torch::Tensor& s, const char* what) {
    if (!s.defined()) return torch::zeros(expected, x.options());
    TORCH_CHECK(s.sizes() == torch::IntArrayRef(expected), name, ": ", what,
                " shape: expected ", torch::IntArrayRef(expected), ", got ", s.sizes());
    TORCH_CHECK(s.device() == x.device(), name, ": ", what, " on ", s.device(), " but input on ",
                x.device());
    return s;
  };
  torch::Tensor gi = torch::nn::functional::linear(x, weight_ih, bias_ih);
  torch::Tensor h = checked(state.h, "h");
  switch (kind) {
    case CellKind::rnn: return {rnn_step(gi, h, weight_hh, bias_hh, options.nonlinearity()), {}};
    case CellKind::lstm: return lstm_step(gi, {h, checked(state.c, "c")}, weight_hh, bias_hh);
    case CellKind::gru: return {gru_step(gi, h, weight_hh, bias_hh), {}};
  }
  return {};
}

torch::Tensor RNNCellImpl::forward(const torch::Tensor& x, const torch::Tensor& h) {
  return step(x, {h, {}}).h;
}

CellState LSTMCellImpl::forward(const torch::Tensor& x, const CellState& state) {
  return step(x, state);
}

torch::Tensor GRUCellImpl::forward(const torch::Tensor& x, const torch::Tensor& h) {
  return step(x, {h, {}}).h;
}

}  // namespace seqtorch::nn
