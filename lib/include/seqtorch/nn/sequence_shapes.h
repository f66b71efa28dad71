#pragma once
// The seed note's four sequence shapes (§5), each a recurrent layer plus a linear head:
//   ManyToMany      an output for every step (sequence-to-sequence: e.g. the series shifted by one)
//   ManyToOne       one output from the final state (sequence-to-vector)
//   OneToMany       a vector given as initial state and/or at every step, T outputs
//                   (vector-to-sequence)
//   EncoderDecoder  a ManyToOne-style encoder whose final state starts a ManyToMany decoder
// Shapes: T time, B batch, I input, F vector width, H hidden, D directions, L layers, O output.
#include <seqtorch/nn/recurrent.h>

#include <torch/nn/modules/linear.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>

namespace seqtorch::nn {

/// A sequence of outputs and the recurrent state after it.
struct SequenceOutput {
  /// [T, B, O] ([B, T, O] if batch_first); zero at padded steps.
  torch::Tensor output;
  /// Final state of the recurrent layer, [L*D, B, H].
  RecurrentState state;
};

/// Many-to-many: o(t) = Linear(output of the recurrent layer at t).
class ManyToManyImpl : public torch::nn::Module {
 public:
  ManyToManyImpl(const RecurrentOptions& rnn, int64_t output_size);
  /// x [T, B, I] ([B, T, I] if batch_first), state [L*D, B, H] or undefined, lengths [B] or
  /// undefined.
  SequenceOutput forward(const torch::Tensor& x, const RecurrentState& state = {},
                         const torch::Tensor& lengths = {});

  Recurrent rnn{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ManyToMany);

/// Many-to-one: o = Linear(top layer's final state, directions concatenated [B, D*H]).
/// With lengths, the final state is each sequence's own last real step.
class ManyToOneImpl : public torch::nn::Module {
 public:
  ManyToOneImpl(const RecurrentOptions& rnn, int64_t output_size);
  /// x as ManyToMany -> [B, O].
  torch::Tensor forward(const torch::Tensor& x, const RecurrentState& state = {},
                        const torch::Tensor& lengths = {});

  Recurrent rnn{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ManyToOne);

/// Options of OneToMany. The recurrent layer's input_size must equal vector_size when the
/// vector is fed at every step; otherwise its input is zeros of width input_size.
struct OneToManyOptions {
  OneToManyOptions(int64_t vector_size, RecurrentOptions rnn, int64_t output_size)
      : vector_size_(vector_size), rnn_(std::move(rnn)), output_size_(output_size) {}
  /// Width F of the conditioning vector.
  TORCH_ARG(int64_t, vector_size);
  /// The recurrent layer.
  TORCH_ARG(RecurrentOptions, rnn);
  /// Width O of each output.
  TORCH_ARG(int64_t, output_size);
  /// h(0) = tanh(Linear(v)) for every layer and direction (c(0) = 0 for the LSTM).
  TORCH_ARG(bool, as_initial_state) = true;
  /// x(t) = v at every step.
  TORCH_ARG(bool, at_every_step) = true;
};

/// One-to-many: a vector v [B, F] unrolled into T outputs.
class OneToManyImpl : public torch::nn::Module {
 public:
  explicit OneToManyImpl(const OneToManyOptions& options);
  /// v [B, F], steps T >= 1 -> outputs [T, B, O] ([B, T, O] if batch_first).
  SequenceOutput forward(const torch::Tensor& v, int64_t steps);
  /// The initial state v gives (undefined when as_initial_state is off): [L*D, B, H].
  RecurrentState initial_state(const torch::Tensor& v);

  OneToManyOptions options;
  Recurrent rnn{nullptr};
  torch::nn::Linear bridge{nullptr};  // F -> L*D*H, only with as_initial_state
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(OneToMany);

/// Encoder-decoder skeleton: the encoder's final state starts the decoder. Both layers use the
/// same cell kind and number of layers; a bidirectional encoder's two directions are
/// concatenated per layer, so the decoder (one direction) has hidden size D_enc * H_enc.
class EncoderDecoderImpl : public torch::nn::Module {
 public:
  EncoderDecoderImpl(const RecurrentOptions& encoder, const RecurrentOptions& decoder,
                     int64_t output_size);
  /// src [S, B, I_enc] -> the decoder's initial state [L, B, D_enc*H_enc].
  RecurrentState encode(const torch::Tensor& src, const torch::Tensor& src_lengths = {});
  /// tgt [T, B, I_dec] (the decoder's inputs, e.g. the shifted target) from `state`.
  SequenceOutput decode(const torch::Tensor& tgt, const RecurrentState& state,
                        const torch::Tensor& tgt_lengths = {});
  /// encode then decode: -> outputs [T, B, O].
  SequenceOutput forward(const torch::Tensor& src, const torch::Tensor& tgt,
                         const torch::Tensor& src_lengths = {},
                         const torch::Tensor& tgt_lengths = {});

  Recurrent encoder{nullptr};
  Recurrent decoder{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(EncoderDecoder);

}  // namespace seqtorch::nn
