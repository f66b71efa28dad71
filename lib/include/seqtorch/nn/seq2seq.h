#pragma once
// The attentional encoder-decoder of the seed note's §5.4 and §10.3 (Sutskever et al. 2014 with
// the attention of Bahdanau et al. 2015 / Luong et al. 2015), as used by seqtorch-translate.
//   encoder  embedding, dropout, a stacked (optionally bidirectional) Recurrent over padded
//            source batches with lengths; its final state is bridged (tanh(W [h_fwd; h_bwd])) to
//            the decoder's width, layer by layer
//   decoder  embedding, dropout, a stacked Recurrent, attention over the encoder's outputs, and
//            a linear layer to the target vocabulary (optionally tied to the target embedding)
// Two decoder styles:
//   luong     h_t = RNN([e_t; o_{t-1}] with input feeding, else e_t); c_t = attend(h_t);
//             o_t = tanh(W_c [h_t; c_t]); logits = W_out o_t. Without input feeding and with full
//             teacher forcing, training runs the decoder RNN over all steps at once.
//   bahdanau  c_t = attend(h_{t-1}); h_t = RNN([e_t; c_t]); logits = W_out h_t (the PyTorch
//             seq2seq tutorial's AttnDecoderRNN).
// Shapes: S source steps, T target steps, B batch, E embedding, H hidden, D directions,
// L layers, V vocabulary.
#include <seqtorch/nn/attention.h>
#include <seqtorch/nn/recurrent.h>

#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace seqtorch::nn {

enum class DecoderStyle { luong, bahdanau };
std::string to_string(DecoderStyle style);
/// Parses "luong" | "bahdanau"; throws naming the valid values otherwise.
DecoderStyle parse_decoder_style(const std::string& name);

struct Seq2SeqOptions {
  Seq2SeqOptions(int64_t source_vocab_size, int64_t target_vocab_size)
      : source_vocab_size_(source_vocab_size), target_vocab_size_(target_vocab_size) {}
  TORCH_ARG(int64_t, source_vocab_size);
  TORCH_ARG(int64_t, target_vocab_size);
  /// E, both embeddings.
  TORCH_ARG(int64_t, embedding_size) = 128;
  TORCH_ARG(CellKind, cell) = CellKind::gru;
  /// H: each encoder direction and the decoder.
  TORCH_ARG(int64_t, hidden_size) = 256;
  /// L: encoder and decoder alike.
  TORCH_ARG(int64_t, num_layers) = 1;
  /// A bidirectional encoder (memory width 2H).
  TORCH_ARG(bool, bidirectional) = true;
  /// Dropout on embeddings, between stacked layers, and before the output layer.
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(AttentionKind, attention) = AttentionKind::additive;
  TORCH_ARG(DecoderStyle, style) = DecoderStyle::luong;
  /// Luong's input feeding: o_{t-1} joins the decoder's input.
  TORCH_ARG(bool, input_feed) = false;
  /// Bridge the encoder's final state with a tanh layer; false passes it on unchanged (needs a
  /// unidirectional encoder: D*H = H).
  TORCH_ARG(bool, bridge) = true;
  /// The output layer shares the target embedding (needs E = H).
  TORCH_ARG(bool, tie_embeddings) = false;
  /// The padding id of both vocabularies (its embedding is zero and gets no gradient).
  TORCH_ARG(int64_t, pad) = 0;
  /// The recurrent layers' implementation.
  TORCH_ARG(Implementation, implementation) = Implementation::automatic;
};

struct EncoderOutput {
  /// memory [S, B, D*H]: the top layer's outputs (zero at padded steps).
  torch::Tensor memory;
  /// mask [B, S] bool: true at real steps.
  torch::Tensor mask;
  /// The decoder's initial state: h (and c for the LSTM) [L, B, H].
  RecurrentState state;
};

/// What the decoder carries from step to step.
struct DecoderState {
  RecurrentState rnn;
  /// o_{t-1} [B, H] with input feeding (zeros at the start), else undefined.
  torch::Tensor feed;
};

struct DecoderStepOutput {
  /// logits [B, V] of the next token.
  torch::Tensor logits;
  /// The features the output layer reads, o_t (Luong) or h_t (Bahdanau) [B, H], before dropout.
  torch::Tensor features;
  DecoderState state;
  /// attention weights [B, S].
  torch::Tensor attention;
};

class Seq2SeqImpl : public torch::nn::Module {
 public:
  explicit Seq2SeqImpl(const Seq2SeqOptions& options);

  /// source [S, B] ids (pad after each sentence's end), lengths [B] in [1, S] (CPU int64) or
  /// undefined (all S).
  EncoderOutput encode(const torch::Tensor& source, const torch::Tensor& lengths = {});
  /// The attention memory of an encoding (computed once per batch).
  AttentionMemory memory(const EncoderOutput& encoded);
  /// The decoder's state before its first step.
  DecoderState initial_state(const EncoderOutput& encoded) const;
  /// One decoder step: tokens [B] (the previous target token, <s> first).
  DecoderStepOutput step(const torch::Tensor& tokens, const DecoderState& state,
                         const AttentionMemory& memory);
  /// Training: logits [T, B, V] for decoder inputs `target_in` [T, B] (<s> y_1 ... y_{T-1}).
  /// teacher_forcing in [0, 1]: the probability, drawn once per step for the whole batch, that a
  /// step reads the true previous token rather than the model's own argmax prediction.
  /// = logits(features(...)).
  torch::Tensor forward(const torch::Tensor& source, const torch::Tensor& lengths,
                        const torch::Tensor& target_in, double teacher_forcing = 1.0);
  /// The decoder's features [T, B, H] for every step (what forward feeds the output layer), so
  /// a loss can project only the steps it scores (not the padding).
  torch::Tensor features(const torch::Tensor& source, const torch::Tensor& lengths,
                         const torch::Tensor& target_in, double teacher_forcing = 1.0);
  /// The output layer (after dropout) on features [..., H]: logits [..., V].
  torch::Tensor logits(const torch::Tensor& features);
  /// Whether forward runs the decoder RNN over all steps at once (Luong style, no input
  /// feeding, full teacher forcing).
  bool parallel_decoder(double teacher_forcing) const;

  Seq2SeqOptions options;
  torch::nn::Embedding source_embedding{nullptr}, target_embedding{nullptr};
  Recurrent encoder{nullptr}, decoder{nullptr};
  /// bridge_c: LSTM only; combine: Luong style only; output: null when tied (then the target
  /// embedding's weight and output_bias make the output layer).
  torch::nn::Linear bridge_h{nullptr}, bridge_c{nullptr}, combine{nullptr}, output{nullptr};
  torch::Tensor output_bias;
  Attention attention{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  // logits of decoder features [., H] (the tied or own output layer).
  torch::Tensor project(const torch::Tensor& features);
};
TORCH_MODULE(Seq2Seq);

}  // namespace seqtorch::nn
