#pragma once
// The decoding engine shared by textgen, translate and caption: one step interface, greedy and
// sampled generation (temperature, top-k, top-p), and beam search with a length penalty.
// Shapes: B batch (or beams), V vocabulary.
#include <seqtorch/nn/recurrent.h>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace seqtorch::decode {

/// What one step returns: log-probabilities [B, V] of the next token and the state after it.
struct StepResult {
  torch::Tensor log_probs;
  nn::RecurrentState state;
};

/// A model as the decoders see it.
class StepModel {
 public:
  virtual ~StepModel() = default;
  /// Reads tokens [B] (int64) from `state` (undefined: the start state).
  virtual StepResult step(const torch::Tensor& tokens, const nn::RecurrentState& state) = 0;
  /// Reads tokens [T, B] and returns the distribution after the last one. The default steps T
  /// times; models override it with one sequence pass.
  virtual StepResult run(const torch::Tensor& tokens, const nn::RecurrentState& state);
  /// Selects rows of a state (beam reordering): index [k] over the batch dimension.
  static nn::RecurrentState select(const nn::RecurrentState& state, const torch::Tensor& index);
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

/// Logits [B, V] divided by the temperature, with tokens outside the top-k and top-p sets set
/// to -inf. (temperature 0 is treated as 1 here; greedy never samples.)
torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingOptions& options);

/// Next tokens [B]: argmax at temperature 0, else a draw from softmax(filter_logits) with `gen`.
torch::Tensor next_tokens(const torch::Tensor& log_probs, const SamplingOptions& options,
                          at::Generator& gen);

/// Generates `length` tokens after `prime` (at least one token), batch 1, without building
/// autograd graphs. `on_token` sees each token as it is produced (streaming). The same seed
/// gives the same tokens.
std::vector<int64_t> generate(StepModel& model, const std::vector<int64_t>& prime, int64_t length,
                              const SamplingOptions& options, uint64_t seed,
                              const std::function<void(int64_t)>& on_token = {});

/// Beam search controls.
struct BeamOptions {
  int64_t beam = 4;
  int64_t max_length = 50;
  /// End-of-sequence token (-1: none; hypotheses then all run to max_length).
  int64_t eos = -1;
  /// score = log P / length^length_penalty (0: raw log-probability).
  double length_penalty = 1.0;
};

struct Hypothesis {
  /// Generated tokens (eos included when it ended one).
  std::vector<int64_t> tokens;
  double log_prob = 0, score = 0;
};

/// Beam search continuing from `state` (the state after the prefix) whose distribution for the
/// next token is `log_probs` [1, V]. Returns hypotheses, best score first.
std::vector<Hypothesis> beam_search(StepModel& model, const torch::Tensor& log_probs,
                                    const nn::RecurrentState& state, const BeamOptions& options);

}  // namespace seqtorch::decode
