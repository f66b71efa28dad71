#pragma once
// The decoding engine shared by textgen, translate and caption: one step interface over a
// task-owned state, greedy and sampled generation (temperature, top-k, top-p), and batched beam
// search (B inputs x K beams as one batch) with end-of-sequence handling, the GNMT length
// penalty, per-input maximum lengths, n-best lists and the attention weights of each hypothesis.
// Shapes: N rows (inputs, or inputs x beams), V vocabulary, S source steps.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace seqtorch::decode {

/// The decoder's state for N rows. The task decides what it holds (recurrent states, an
/// input-feeding vector, encoder memory and its mask, image features); for each tensor
/// `batch_dims` says which dimension indexes the rows, so the engine can reorder and replicate
/// rows (beam search) without knowing what they mean. Undefined tensors stay undefined.
struct StepState {
  std::vector<torch::Tensor> tensors;
  std::vector<int64_t> batch_dims;

  /// Appends a tensor whose rows are along `batch_dim`.
  void add(const torch::Tensor& tensor, int64_t batch_dim);
  /// The state of rows `index` [M] (int64, any device): row i of the result is row index[i].
  StepState select(const torch::Tensor& index) const;
};

/// What one step returns.
struct StepResult {
  /// log-probabilities [N, V] of the next token.
  torch::Tensor log_probs;
  /// The state after the step.
  StepState state;
  /// Attention weights [N, S] of the step, or undefined for models without attention.
  torch::Tensor attention;
};

/// A model as the decoders see it. Steps run without gradients.
class StepModel {
 public:
  virtual ~StepModel() = default;
  /// Reads tokens [N] (int64) in `state`. An empty state (no tensors) is the model's start state
  /// for N rows where the model has one (language models).
  virtual StepResult step(const torch::Tensor& tokens, const StepState& state) = 0;
  /// Reads tokens [T, N] and returns the result after the last one. The default steps T times;
  /// models override it with one sequence pass.
  virtual StepResult run(const torch::Tensor& tokens, const StepState& state);
};

/// Sampling controls. temperature 0 means greedy (argmax).
struct SamplingOptions {
  double temperature = 1.0;
  /// Keep only the k most likely tokens (0: all).
  int64_t top_k = 0;
  /// Keep the smallest set of most likely tokens whose probability reaches p (1: all).
  double top_p = 1.0;
};
/// Throws naming the option for temperature < 0, top_k < 0, top_p outside (0, 1].
void check(const SamplingOptions& options);

/// Logits [N, V] divided by the temperature, with tokens outside the top-k and top-p sets set
/// to -inf. (temperature 0 is treated as 1 here; greedy never samples.)
torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingOptions& options);

/// seqtorch's one sampler, used by search, generate and textgen's FastGenerator alike (the
/// textgen export runs the same steps in TorchScript): temperature 0 takes the first maximum;
/// otherwise the logits are divided by the temperature, cut to the top-k and then the top-p set
/// (filter_logits' rules), and a token is drawn by inverse CDF over the kept tokens in
/// descending order (in id order without top-k or top-p) with the next number of a splitmix64
/// stream seeded from `seed`. The same seed and logits give the same tokens, whoever calls it;
/// logits shifted by a constant (log-probabilities) draw the same up to rounding.
class Sampler {
 public:
  explicit Sampler(uint64_t seed);
  /// One token from logits[0 .. V).
  int64_t draw(const float* logits, int64_t V, const SamplingOptions& options);
  int64_t draw(const double* logits, int64_t V, const SamplingOptions& options);
  /// The stream's next uniform number in [0, 1).
  double uniform();

 private:
  template <class T>
  int64_t draw_from(const T* logits, int64_t V, const SamplingOptions& options);
  uint64_t state_;
  std::vector<double> weights_;  // logits / T, then the weights of the kept tokens
  std::vector<int64_t> kept_;    // the tokens left by top-k and top-p
};

/// Next tokens [N] of log_probs [N, V]: argmax at temperature 0, else one draw of `sampler` per
/// row, in row order.
torch::Tensor next_tokens(const torch::Tensor& log_probs, const SamplingOptions& options,
                          Sampler& sampler);

/// One generated sequence.
struct Hypothesis {
  /// Generated tokens (eos included when it ended the sequence).
  std::vector<int64_t> tokens;
  /// Sum of the tokens' log-probabilities, and the score that ranks hypotheses (log_prob
  /// divided by the length penalty).
  double log_prob = 0, score = 0;
  /// Attention weights [tokens, S] of each generated token, when the model returns them.
  torch::Tensor attention;
};

/// Controls of batched generation, shared by sampling and beam search.
struct SearchOptions {
  /// Hypotheses kept per input (1: greedy or sampling).
  int64_t beam = 1;
  /// Hypotheses returned per input (<= beam).
  int64_t n_best = 1;
  /// End-of-sequence token (-1: none; sequences then all run to their maximum length).
  int64_t eos = -1;
  /// GNMT length penalty alpha: score = log P / ((5 + length) / 6)^alpha (0: raw log P).
  double length_penalty = 0.0;
  /// Keep the attention weights of each token (Hypothesis::attention).
  bool keep_attention = false;
};
/// Throws naming the option for beam < 1, n_best outside [1, beam], length_penalty < 0.
void check_search(const SearchOptions& options);

/// Generates from `start` (the result of reading each input's prefix: log_probs [B, V] for the
/// first token and the state of B rows) up to `max_lengths[b]` tokens for input b (>= 1; one
/// value for all inputs allowed). Returns, per input, `n_best` hypotheses, best score first.
/// beam 1 with temperature 0 is greedy decoding; beam 1 with temperature > 0 samples (with
/// `seed`); beam > 1 is beam search (sampling options then must be greedy). A hypothesis ends
/// with eos when that candidate ranks among the step's best `beam`; an input's search stops at
/// its maximum length, or once `n_best` hypotheses ended and its best live one, scored at the
/// current length, scores no better than the n-th best ended one.
std::vector<std::vector<Hypothesis>> search(StepModel& model, const StepResult& start,
                                            const std::vector<int64_t>& max_lengths,
                                            const SearchOptions& options,
                                            const SamplingOptions& sampling = {0.0, 0, 1.0},
                                            uint64_t seed = 0);

/// Language-model generation, batch 1: `length` tokens after `prime` (at least one token),
/// streamed to `on_token`. The same seed gives the same tokens.
std::vector<int64_t> generate(StepModel& model, const std::vector<int64_t>& prime, int64_t length,
                              const SamplingOptions& options, uint64_t seed,
                              const std::function<void(int64_t)>& on_token = {});

}  // namespace seqtorch::decode
