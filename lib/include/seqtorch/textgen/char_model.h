#pragma once
// The seed note's language model (§1, §10): embedding, a stacked RNN / LSTM / GRU, a linear
// layer to the vocabulary; the vocabulary is stored inside the model (buffer `symbols`).
// Shapes: T time, B streams, V vocabulary, E embedding, H hidden.
#include <seqtorch/data/text.h>
#include <seqtorch/decode/decoding.h>
#include <seqtorch/nn/recurrent.h>

#include <torch/nn/modules/embedding.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

namespace seqtorch::textgen {

struct CharModelOptions {
  explicit CharModelOptions(int64_t vocab_size) : vocab_size_(vocab_size) {}
  /// V, the unknown symbol included.
  TORCH_ARG(int64_t, vocab_size);
  /// E (with tie_weights it must equal hidden_size).
  TORCH_ARG(int64_t, embedding_size) = 64;
  TORCH_ARG(nn::CellKind, cell) = nn::CellKind::lstm;
  TORCH_ARG(int64_t, hidden_size) = 256;
  TORCH_ARG(int64_t, num_layers) = 2;
  TORCH_ARG(double, dropout) = 0.0;
  /// The output layer shares the embedding matrix (Press & Wolf).
  TORCH_ARG(bool, tie_weights) = false;
};

struct CharModelOutput {
  /// [T, B, V]
  torch::Tensor logits;
  nn::RecurrentState state;
};

class CharModelImpl : public torch::nn::Module {
 public:
  CharModelImpl(const CharModelOptions& options, const data::Vocabulary& vocabulary);
  /// tokens [T, B] (int64), state [L, B, H] or undefined.
  CharModelOutput forward(const torch::Tensor& tokens, const nn::RecurrentState& state = {});
  /// The vocabulary stored in the model.
  data::Vocabulary vocabulary() const;

  CharModelOptions options;
  torch::nn::Embedding embed{nullptr};
  nn::Recurrent rnn{nullptr};
  torch::Tensor head_weight, head_bias;  // head_weight undefined when tied
  torch::Tensor symbols, unit;           // buffers: vocabulary table [V-1], unit (0 code point, 1 byte)
};
TORCH_MODULE(CharModel);

/// The vocabulary stored in a seqtorch-textgen checkpoint (to size the model before loading).
data::Vocabulary vocabulary_of_checkpoint(const std::string& path);

/// The decoders' view of a CharModel (eval mode, no gradients).
class CharStepModel : public decode::StepModel {
 public:
  explicit CharStepModel(CharModel model) : model_(std::move(model)) {}
  /// The state holds h and c (undefined but for the LSTM), rows along dimension 1.
  decode::StepResult step(const torch::Tensor& tokens, const decode::StepState& state) override;
  decode::StepResult run(const torch::Tensor& tokens, const decode::StepState& state) override;

 private:
  CharModel model_;
};

/// Bits per character and perplexity of `ids` [N] under the model, reading `streams` parallel
/// contiguous streams in chunks of `chunk` steps with the state carried across chunks.
struct TextScore {
  double bits_per_char = 0, perplexity = 0;
  int64_t symbols = 0;
};
TextScore score_text(CharModel& model, const torch::Tensor& ids, int64_t streams, int64_t chunk,
                     torch::Device device);

}  // namespace seqtorch::textgen
