#include <seqtorch/nn/sequence_shapes.h>

#include <torch/torch.h>

namespace seqtorch::nn {

namespace {
// Zeroes head outputs at padded steps, so they match the layer's contract. out [T, B, O]
// (time-major), lengths [B] or undefined.
torch::Tensor zero_padded(const torch::Tensor& out, const torch::Tensor& lengths) {
  if (!lengths.defined()) return out;
  const torch::Tensor len = lengths.to(out.device(), torch::kLong);
  const torch::Tensor mask =
      torch::arange(out.size(0), len.options()).unsqueeze(1) < len.unsqueeze(0);  // [T, B]
  return out * mask.unsqueeze(2).to(out.scalar_type());
}

// Top layer's final state with directions side by side: [B, D*H].
torch::Tensor top_state(const RecurrentState& state, int64_t directions) {
  const int64_t rows = state.h.size(0);
  return state.h.narrow(0, rows - directions, directions).transpose(0, 1).flatten(1);
}
}  // namespace

ManyToManyImpl::ManyToManyImpl(const RecurrentOptions& options, int64_t output_size) {
  TORCH_CHECK(output_size > 0, "ManyToMany: output_size: expected > 0, got ", output_size);
  rnn = register_module("rnn", Recurrent(options));
  head = register_module("head", torch::nn::Linear(rnn->output_size(), output_size));
}

SequenceOutput ManyToManyImpl::forward(const torch::Tensor& x, const RecurrentState& state,
                                       const torch::Tensor& lengths) {
  RecurrentOutput r = rnn->forward(x, state, lengths);
  const bool bf = rnn->options.batch_first();
  torch::Tensor y = head->forward(bf ? r.output.transpose(0, 1) : r.output);  // [T, B, O]
  y = zero_padded(y, lengths);
  return {bf ? y.transpose(0, 1) : y, r.state};
}

ManyToOneImpl::ManyToOneImpl(const RecurrentOptions& options, int64_t output_size) {
  TORCH_CHECK(output_size > 0, "ManyToOne: output_size: expected > 0, got ", output_size);
  rnn = register_module("rnn", Recurrent(options));
  head = register_module("head", torch::nn::Linear(rnn->output_size(), output_size));
}

torch::Tensor ManyToOneImpl::forward(const torch::Tensor& x, const RecurrentState& state,
                                     const torch::Tensor& lengths) {
  RecurrentOutput r = rnn->forward(x, state, lengths);
  return head->forward(top_state(r.state, rnn->num_directions()));
}

OneToManyImpl::OneToManyImpl(const OneToManyOptions& options_) : options(options_) {
  const auto& o = options;
  TORCH_CHECK(o.vector_size() > 0, "OneToMany: vector_size: expected > 0, got ", o.vector_size());
  TORCH_CHECK(o.output_size() > 0, "OneToMany: output_size: expected > 0, got ", o.output_size());
  TORCH_CHECK(o.as_initial_state() || o.at_every_step(),
              "OneToMany: the vector must enter somewhere: as_initial_state and at_every_step "
              "are both off");
  TORCH_CHECK(!o.at_every_step() || o.rnn().input_size() == o.vector_size(),
              "OneToMany: with at_every_step the layer's input_size must equal vector_size: "
              "expected ", o.vector_size(), ", got ", o.rnn().input_size());
  rnn = register_module("rnn", Recurrent(o.rnn()));
  if (o.as_initial_state()) {
    const int64_t rows = o.rnn().num_layers() * rnn->num_directions();
    bridge = register_module(
        "bridge", torch::nn::Linear(o.vector_size(), rows * o.rnn().hidden_size()));
  }
  head = register_module("head", torch::nn::Linear(rnn->output_size(), o.output_size()));
}

RecurrentState OneToManyImpl::initial_state(const torch::Tensor& v) {
  if (!bridge) return {};
  const int64_t B = v.size(0), H = options.rnn().hidden_size();
  RecurrentState s;
  // [B, L*D*H] -> [L*D, B, H]
  s.h = torch::tanh(bridge->forward(v)).view({B, -1, H}).transpose(0, 1).contiguous();
  if (options.rnn().cell() == CellKind::lstm) s.c = torch::zeros_like(s.h);
  return s;
}

SequenceOutput OneToManyImpl::forward(const torch::Tensor& v, int64_t steps) {
  TORCH_CHECK(v.defined() && v.dim() == 2 && v.size(1) == options.vector_size(),
              "OneToMany: vector shape: expected [B, ", options.vector_size(), "], got ",
              v.defined() ? v.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(steps >= 1, "OneToMany: steps: expected >= 1, got ", steps);
  const int64_t B = v.size(0);
  // Time-major input [T, B, I]: v repeated, or zeros.
  torch::Tensor x = options.at_every_step()
                        ? v.unsqueeze(0).expand({steps, B, v.size(1)})
                        : torch::zeros({steps, B, options.rnn().input_size()}, v.options());
  const bool bf = options.rnn().batch_first();
  RecurrentOutput r = rnn->forward(bf ? x.transpose(0, 1) : x, initial_state(v));
  return {head->forward(r.output), r.state};
}

EncoderDecoderImpl::EncoderDecoderImpl(const RecurrentOptions& enc, const RecurrentOptions& dec,
                                       int64_t output_size) {
  const int64_t enc_d = enc.bidirectional() ? 2 : 1;
  TORCH_CHECK(enc.cell() == dec.cell(), "EncoderDecoder: cell: the decoder must use the "
              "encoder's cell kind: expected ", to_string(enc.cell()), ", got ",
              to_string(dec.cell()));
  TORCH_CHECK(enc.num_layers() == dec.num_layers(), "EncoderDecoder: decoder num_layers: "
              "expected the encoder's ", enc.num_layers(), ", got ", dec.num_layers());
  TORCH_CHECK(!dec.bidirectional(), "EncoderDecoder: the decoder must be unidirectional");
  TORCH_CHECK(dec.hidden_size() == enc_d * enc.hidden_size(), "EncoderDecoder: decoder "
              "hidden_size: expected directions x encoder hidden_size = ",
              enc_d * enc.hidden_size(), ", got ", dec.hidden_size());
  TORCH_CHECK(enc.batch_first() == dec.batch_first(),
              "EncoderDecoder: encoder and decoder must agree on batch_first");
  TORCH_CHECK(output_size > 0, "EncoderDecoder: output_size: expected > 0, got ", output_size);
  encoder = register_module("encoder", Recurrent(enc));
  decoder = register_module("decoder", Recurrent(dec));
  head = register_module("head", torch::nn::Linear(dec.hidden_size(), output_size));
}

RecurrentState EncoderDecoderImpl::encode(const torch::Tensor& src,
                                          const torch::Tensor& src_lengths) {
  RecurrentState s = encoder->forward(src, {}, src_lengths).state;
  const int64_t D = encoder->num_directions();
  if (D == 1) return s;
  // [L*D, B, H] -> [L, B, D*H]: each layer's two directions side by side.
  auto merge = [&](const torch::Tensor& t) {
    const int64_t L = t.size(0) / D, B = t.size(1), H = t.size(2);
    return t.view({L, D, B, H}).permute({0, 2, 1, 3}).reshape({L, B, D * H});
  };
  return {merge(s.h), s.c.defined() ? merge(s.c) : torch::Tensor()};
}

SequenceOutput EncoderDecoderImpl::decode(const torch::Tensor& tgt, const RecurrentState& state,
                                          const torch::Tensor& tgt_lengths) {
  RecurrentOutput r = decoder->forward(tgt, state, tgt_lengths);
  const bool bf = decoder->options.batch_first();
  torch::Tensor y = zero_padded(head->forward(bf ? r.output.transpose(0, 1) : r.output),
                                tgt_lengths);
  return {bf ? y.transpose(0, 1) : y, r.state};
}

SequenceOutput EncoderDecoderImpl::forward(const torch::Tensor& src, const torch::Tensor& tgt,
                                           const torch::Tensor& src_lengths,
                                           const torch::Tensor& tgt_lengths) {
  return decode(tgt, encode(src, src_lengths), tgt_lengths);
}

}  // namespace seqtorch::nn
