#include <seqtorch/nn/recurrent.h>
#include <seqtorch/nn/init.h>
#include <seqtorch/nn/cpu_kernel.h>

#include <torch/torch.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>

namespace seqtorch::nn {

std::string to_string(Implementation implementation) {
  switch (implementation) {
    case Implementation::automatic: return "automatic";
    case Implementation::reference: return "reference";
    case Implementation::fused: return "fused";
    case Implementation::kernel: return "kernel";
  }
  return "?";
}

Implementation parse_implementation(const std::string& name) {
  if (name == "automatic" || name == "auto") return Implementation::automatic;
  if (name == "reference") return Implementation::reference;
  if (name == "fused") return Implementation::fused;
  if (name == "kernel") return Implementation::kernel;
  TORCH_CHECK(false, "implementation: expected automatic, reference, fused or kernel, got '", name,
              "'");
}

RecurrentImpl::RecurrentImpl(const RecurrentOptions& options_) : options(options_) {
  const auto& o = options;
  TORCH_CHECK(o.input_size() > 0, "Recurrent: input_size: expected > 0, got ", o.input_size());
  TORCH_CHECK(o.hidden_size() > 0, "Recurrent: hidden_size: expected > 0, got ", o.hidden_size());
  TORCH_CHECK(o.num_layers() > 0, "Recurrent: num_layers: expected > 0, got ", o.num_layers());
  TORCH_CHECK(o.dropout() >= 0 && o.dropout() < 1, "Recurrent: dropout: expected in [0, 1), got ",
              o.dropout());
  TORCH_CHECK(std::isnan(o.forget_bias()) || o.cell() == CellKind::lstm,
              "Recurrent: forget_bias: only the LSTM has a forget gate, got cell ",
              to_string(o.cell()));
  const int64_t g = gate_count(o.cell()) * o.hidden_size();
  for (int64_t l = 0; l < o.num_layers(); ++l) {
    const int64_t in = l == 0 ? o.input_size() : output_size();
    for (int64_t d = 0; d < num_directions(); ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      std::vector<torch::Tensor> w{
          register_parameter("weight_ih" + suffix, torch::empty({g, in})),
          register_parameter("weight_hh" + suffix, torch::empty({g, o.hidden_size()})),
          torch::Tensor(), torch::Tensor()};
      if (o.bias()) {
        w[2] = register_parameter("bias_ih" + suffix, torch::empty({g}));
        w[3] = register_parameter("bias_hh" + suffix, torch::empty({g}));
      }
      weights_.push_back(std::move(w));
    }
  }
  reset_parameters();
}

void RecurrentImpl::reset_parameters() {
  for (auto& p : parameters()) init_uniform_(p, options.hidden_size());
  for (auto& w : weights_) {
    if (options.orthogonal_init()) init_orthogonal_blocks_(w[1], gate_count(options.cell()));
    if (!std::isnan(options.forget_bias()) && w[2].defined())
      init_forget_bias_(w[2], w[3], options.forget_bias());
  }
}

std::vector<torch::Tensor> RecurrentImpl::layer_parameters(int64_t layer, int64_t direction) const {
  TORCH_CHECK(layer >= 0 && layer < options.num_layers() && direction >= 0 &&
                  direction < num_directions(),
              "Recurrent: no layer ", layer, " direction ", direction);
  const auto& w = weights_[layer * num_directions() + direction];
  if (!options.bias()) return {w[0], w[1]};
  return w;
}

Implementation RecurrentImpl::resolved_implementation(const torch::Device& device) const {
  if (options.implementation() != Implementation::automatic) return options.implementation();
  // A trace (TorchScript export) records ATen ops; the kernel's gate loops are not ATen ops.
  if (torch::jit::tracer::isTracing()) return Implementation::fused;
  const auto& w = weights_[0][0];
  return device.is_cpu() && cpu_kernel::supports(w) ? Implementation::kernel
                                                     : Implementation::fused;
}

namespace {
const char* kName = "Recurrent";

void check_state_tensor(const torch::Tensor& s, const char* what, const torch::Tensor& x,
                        int64_t rows, int64_t batch, int64_t hidden) {
  const std::vector<int64_t> expected{rows, batch, hidden};
  TORCH_CHECK(s.sizes() == torch::IntArrayRef(expected), kName, ": initial state ", what,
              " shape: expected ", torch::IntArrayRef(expected), " ([L*D, B, H]), got ",
              s.sizes());
  TORCH_CHECK(s.device() == x.device(), kName, ": initial state ", what, " on ", s.device(),
              " but input on ", x.device());
  TORCH_CHECK(s.scalar_type() == x.scalar_type(), kName, ": initial state ", what, " dtype ",
              s.scalar_type(), " but input dtype ", x.scalar_type());
}
}  // namespace

RecurrentOutput RecurrentImpl::forward(const torch::Tensor& input, const RecurrentState& state,
                                       const torch::Tensor& lengths) {
  const auto& o = options;
  TORCH_CHECK(input.defined(), kName, ": input is undefined");
  TORCH_CHECK(input.dim() == 3, kName, ": input rank: expected 3 (",
              o.batch_first() ? "[B, T, I]" : "[T, B, I]", "), got ", input.dim(), " (shape ",
              input.sizes(), ")");
  TORCH_CHECK(input.size(2) == o.input_size(), kName, ": input width: expected ",
              o.input_size(), ", got ", input.size(2));
  TORCH_CHECK(input.is_floating_point(), kName, ": input dtype: expected floating point, got ",
              input.scalar_type());
  const auto& w0 = weights_[0][0];
  TORCH_CHECK(input.device() == w0.device(), kName, ": input on ", input.device(),
              " but parameters on ", w0.device());
  TORCH_CHECK(input.scalar_type() == w0.scalar_type(), kName, ": input dtype ",
              input.scalar_type(), " but parameters ", w0.scalar_type());
  torch::Tensor x = o.batch_first() ? input.transpose(0, 1) : input;  // [T, B, I]
  const int64_t T = x.size(0), B = x.size(1), H = o.hidden_size();
  TORCH_CHECK(T > 0 && B > 0, kName, ": input has an empty time or batch dimension: ",
              input.sizes());

  const int64_t rows = o.num_layers() * num_directions();
  // Zero states built from the input, not from its sizes: a traced graph (export) then keeps
  // the batch size dynamic.
  auto zero_state = [&] {
    return torch::zeros_like(x.select(0, 0).narrow(1, 0, 1)).unsqueeze(0).expand({rows, -1, H}).contiguous();
  };
  RecurrentState s0 = state;
  if (s0.h.defined()) {
    check_state_tensor(s0.h, "h", x, rows, B, H);
  } else {
    TORCH_CHECK(!s0.c.defined(), kName, ": initial state: c given without h");
    s0.h = zero_state();
  }
  if (o.cell() == CellKind::lstm) {
    if (s0.c.defined()) {
      check_state_tensor(s0.c, "c", x, rows, B, H);
    } else {
      TORCH_CHECK(!state.h.defined(), kName, ": initial state: the LSTM needs both h and c, got h only");
      s0.c = zero_state();
    }
  } else {
    TORCH_CHECK(!s0.c.defined(), kName, ": initial state: a ", to_string(o.cell()),
                " layer has no cell state c, but c was given");
  }

  if (lengths.defined()) {
    TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == B, kName,
                ": lengths shape: expected [", B, "] (one per sequence), got ", lengths.sizes());
    TORCH_CHECK(!lengths.is_floating_point() && !lengths.is_complex(), kName,
                ": lengths dtype: expected integers, got ", lengths.scalar_type());
    torch::Tensor cpu = lengths.to(torch::kCPU, torch::kLong);
    const int64_t lo = cpu.min().item<int64_t>(), hi = cpu.max().item<int64_t>();
    TORCH_CHECK(lo >= 1, kName, ": lengths: expected every length >= 1, got ", lo);
    TORCH_CHECK(hi <= T, kName, ": lengths: expected every length <= T = ", T, ", got ", hi);
  }

  RecurrentOutput out;
  switch (resolved_implementation(x.device())) {
    case Implementation::reference: out = forward_reference(x, s0, lengths); break;
    case Implementation::kernel:
      TORCH_CHECK(x.device().is_cpu() && cpu_kernel::supports(w0), kName,
                  ": implementation kernel runs float32/float64 on the CPU, got ",
                  x.scalar_type(), " on ", x.device(), " (use automatic, fused or reference)");
      TORCH_CHECK(!torch::jit::tracer::isTracing(), kName,
                  ": implementation kernel cannot be traced for TorchScript export (use automatic"
                  " or fused)");
      out = forward_kernel(x, s0, lengths);
      break;
    default: out = forward_fused(x, s0, lengths); break;
  }
  if (o.batch_first()) out.output = out.output.transpose(0, 1);
  return out;
}

RecurrentOutput RecurrentImpl::forward_reference(const torch::Tensor& x,
                                                 const RecurrentState& s0,
                                                 const torch::Tensor& lengths) {
  const auto& o = options;
  const int64_t T = x.size(0), L = o.num_layers(), D = num_directions();
  const bool lstm = o.cell() == CellKind::lstm;
  // mask[t] [B, 1]: whether step t is a real step of each sequence.
  torch::Tensor mask;
  if (lengths.defined()) {
    torch::Tensor len = lengths.to(x.device(), torch::kLong);
    mask = (torch::arange(T, len.options()).unsqueeze(1) < len.unsqueeze(0)).unsqueeze(2);
  }
  RecurrentOutput out;
  std::vector<torch::Tensor> final_h, final_c;
  torch::Tensor layer_input = x;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<torch::Tensor> direction_outputs;
    for (int64_t d = 0; d < D; ++d) {
      const auto& w = weights_[l * D + d];
      torch::Tensor gi = torch::nn::functional::linear(layer_input, w[0], w[2]);  // [T, B, G]
      CellState s{s0.h[l * D + d], lstm ? s0.c[l * D + d] : torch::Tensor()};
      const bool keep_steps = l == L - 1 && d == 0;
      std::vector<torch::Tensor> outs(T);
      for (int64_t k = 0; k < T; ++k) {
        const int64_t t = d == 0 ? k : T - 1 - k;
        CellState next;
        switch (o.cell()) {
          case CellKind::rnn: next.h = rnn_step(gi[t], s.h, w[1], w[3], o.nonlinearity()); break;
          case CellKind::lstm: next = lstm_step(gi[t], s, w[1], w[3]); break;
          case CellKind::gru: next.h = gru_step(gi[t], s.h, w[1], w[3]); break;
        }
        if (mask.defined()) {
          // Padded steps keep the state and output zeros.
          const torch::Tensor m = mask[t];
          s.h = torch::where(m, next.h, s.h);
          if (lstm) s.c = torch::where(m, next.c, s.c);
          outs[t] = torch::where(m, s.h, torch::zeros_like(s.h));
        } else {
          s = next;
          outs[t] = s.h;
        }
        if (keep_steps) out.steps.push_back(s.h);
      }
      direction_outputs.push_back(torch::stack(outs));
      final_h.push_back(s.h);
      if (lstm) final_c.push_back(s.c);
    }
    layer_input = D == 1 ? direction_outputs[0] : torch::cat(direction_outputs, 2);
    if (l + 1 < L && o.dropout() > 0)
      layer_input = torch::dropout(layer_input, o.dropout(), is_training());
  }
  out.output = layer_input;
  out.state.h = torch::stack(final_h);
  if (lstm) out.state.c = torch::stack(final_c);
  return out;
}

// cuDNN reads the weights of the whole stack from one buffer. Parameters that are separate
// tensors would be copied into such a buffer at every call and their gradients split out of it
// again; on CUDA the parameters become views of one buffer instead (what torch.nn's
// flatten_parameters does), checked at each call and redone whenever something gave them other
// storage (.to(), loading a checkpoint). The check compares storages only: nothing is read
// from the GPU.
void RecurrentImpl::flatten_for_cudnn(const std::vector<torch::Tensor>& params) {
  if (!torch::cudnn_is_acceptable(params[0])) return;
  bool flat = cudnn_weight_buf_.defined() && cudnn_weight_buf_.device() == params[0].device() &&
              cudnn_weight_buf_.scalar_type() == params[0].scalar_type();
  for (size_t i = 0; flat && i < params.size(); ++i) flat = params[i].is_alias_of(cudnn_weight_buf_);
  if (flat) return;
  const auto& o = options;
  int64_t mode = 2;  // cudnnRNNMode_t: RNN_RELU 0, RNN_TANH 1, LSTM 2, GRU 3
  if (o.cell() == CellKind::gru) mode = 3;
  if (o.cell() == CellKind::rnn) mode = o.nonlinearity() == Nonlinearity::relu ? 0 : 1;
  torch::NoGradGuard no_grad;
  cudnn_weight_buf_ = torch::_cudnn_rnn_flatten_weight(
      params, /*weight_stride0=*/o.bias() ? 4 : 2, o.input_size(), mode, o.hidden_size(),
      /*proj_size=*/0, o.num_layers(), /*batch_first=*/false, o.bidirectional());
}

RecurrentOutput RecurrentImpl::forward_fused(const torch::Tensor& x, const RecurrentState& state,
                                             const torch::Tensor& lengths) {
  const auto& o = options;
  std::vector<torch::Tensor> params;
  for (int64_t l = 0; l < o.num_layers(); ++l)
    for (int64_t d = 0; d < num_directions(); ++d)
      for (auto& p : layer_parameters(l, d)) params.push_back(p);
  if (x.is_cuda()) flatten_for_cudnn(params);
  // cuDNN takes only contiguous initial states (a state narrowed out of a bigger batch is not).
  const RecurrentState s0{state.h.contiguous(), state.c.defined() ? state.c.contiguous() : state.c};
  const bool train = is_training();
  const double p = o.dropout();
  const bool bidir = o.bidirectional();
  const int64_t L = o.num_layers();

  RecurrentOutput out;
  if (!lengths.defined()) {
    switch (o.cell()) {
      case CellKind::lstm:
        std::tie(out.output, out.state.h, out.state.c) =
            torch::lstm(x, {s0.h, s0.c}, params, o.bias(), L, p, train, bidir, false);
        break;
      case CellKind::gru:
        std::tie(out.output, out.state.h) =
            torch::gru(x, s0.h, params, o.bias(), L, p, train, bidir, false);
        break;
      case CellKind::rnn:
        std::tie(out.output, out.state.h) =
            o.nonlinearity() == Nonlinearity::tanh
                ? torch::rnn_tanh(x, s0.h, params, o.bias(), L, p, train, bidir, false)
                : torch::rnn_relu(x, s0.h, params, o.bias(), L, p, train, bidir, false);
        break;
    }
    return out;
  }

  // Variable lengths: pack (longest first), run the packed op, pad back, restore the order.
  const int64_t T = x.size(0);
  torch::Tensor sorted_lengths, order;
  std::tie(sorted_lengths, order) = lengths.to(torch::kCPU, torch::kLong).sort(0, true);
  const torch::Tensor inverse = torch::empty_like(order).scatter_(
      0, order, torch::arange(order.size(0), order.options()));
  const torch::Tensor order_dev = order.to(x.device()), inverse_dev = inverse.to(x.device());
  torch::Tensor data, batch_sizes;
  std::tie(data, batch_sizes) =
      torch::_pack_padded_sequence(x.index_select(1, order_dev), sorted_lengths, false);
  const torch::Tensor h0 = s0.h.index_select(1, order_dev);
  torch::Tensor packed_out;
  switch (o.cell()) {
    case CellKind::lstm:
      std::tie(packed_out, out.state.h, out.state.c) =
          torch::lstm(data, batch_sizes, {h0, s0.c.index_select(1, order_dev)}, params, o.bias(),
                      L, p, train, bidir);
      out.state.c = out.state.c.index_select(1, inverse_dev);
      break;
    case CellKind::gru:
      std::tie(packed_out, out.state.h) =
          torch::gru(data, batch_sizes, h0, params, o.bias(), L, p, train, bidir);
      break;
    case CellKind::rnn:
      std::tie(packed_out, out.state.h) =
          o.nonlinearity() == Nonlinearity::tanh
              ? torch::rnn_tanh(data, batch_sizes, h0, params, o.bias(), L, p, train, bidir)
              : torch::rnn_relu(data, batch_sizes, h0, params, o.bias(), L, p, train, bidir);
      break;
  }
  out.state.h = out.state.h.index_select(1, inverse_dev);
  torch::Tensor padded;
  std::tie(padded, std::ignore) =
      torch::_pad_packed_sequence(packed_out, batch_sizes, false, 0.0, T);
  out.output = padded.index_select(1, inverse_dev);
  return out;
}

RecurrentOutput RecurrentImpl::forward_kernel(const torch::Tensor& x, const RecurrentState& s0,
                                              const torch::Tensor& lengths) {
  const auto& o = options;
  const int64_t L = o.num_layers(), D = num_directions();
  const bool lstm = o.cell() == CellKind::lstm;
  const torch::Tensor len =
      lengths.defined() ? lengths.to(torch::kCPU, torch::kLong).contiguous() : torch::Tensor();
  std::vector<torch::Tensor> final_h, final_c;
  torch::Tensor layer_input = x.contiguous();
  for (int64_t l = 0; l < L; ++l) {
    std::vector<torch::Tensor> outputs;
    for (int64_t d = 0; d < D; ++d) {
      const auto& w = weights_[l * D + d];
      const cpu_kernel::LayerSpec spec{o.cell(), o.nonlinearity(), d == 1};
      auto r = cpu_kernel::run_layer(spec, layer_input, s0.h[l * D + d],
                                     lstm ? s0.c[l * D + d] : torch::Tensor(), w[0], w[1], w[2],
                                     w[3], len);
      outputs.push_back(r.output);
      final_h.push_back(r.h);
      if (lstm) final_c.push_back(r.c);
    }
    layer_input = D == 1 ? outputs[0] : torch::cat(outputs, 2);
    if (l + 1 < L && o.dropout() > 0)
      layer_input = torch::dropout(layer_input, o.dropout(), is_training());
  }
  RecurrentOutput out;
  out.output = layer_input;
  out.state.h = torch::stack(final_h);
  if (lstm) out.state.c = torch::stack(final_c);
  return out;
}

}  // namespace seqtorch::nn
