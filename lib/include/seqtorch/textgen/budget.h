#pragma once
// seqtorch-textgen's model for a time budget: `train --time-budget S` with no model option
// given picks the model, batch and learning rate from the corpus and S (what a tuned script
// would pick), instead of the small general defaults.
#include <seqtorch/textgen/corpus.h>

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace seqtorch::textgen {

/// One model of the ladder, probed.
struct BudgetCandidate {
  int64_t num_layers = 1, hidden_size = 128;
  /// Trainable parameters, and the training tokens per second measured for it (0: not probed).
  int64_t parameters = 0;
  double tokens_per_s = 0;
};

/// The choice for a budget, and how it was made.
struct BudgetChoice {
  int64_t num_layers = 1, hidden_size = 128, embedding_size = 64, batch_size = 64, seq_len = 100;
  double lr = 4e-3;
  /// The candidates probed, in ladder order, and the seconds the probes took (to be taken from
  /// the budget).
  std::vector<BudgetCandidate> probed;
  double probe_seconds = 0;
};

/// The ladder of LSTM models (layers x hidden): 1x128, 1x256, 1x384, 1x512, 2x512, 2x768,
/// 2x1024.
std::vector<BudgetCandidate> budget_ladder();

/// Trainable parameters of an LSTM character model (embedding 64, untied output layer) of V
/// symbols.
int64_t lstm_char_model_parameters(int64_t vocab_size, int64_t num_layers, int64_t hidden_size,
                                   int64_t embedding_size = 64);

/// The rule. Batch 64 streams of 100 steps (fewer for a text shorter than 64 x 101 symbols), Adam
/// at 4e-3 (in PyTorch's sweep of compare_textgen.sh --sweep, 4e-3 beat 2e-3 by 0.13 bits per
/// character in 300 s), embedding 64; the model: the largest of the ladder whose parameter count
/// P meets both
///   P <= tokens / 20   tokens = S x the tokens per second measured for that model on `device`
///                      (one warm-up and two timed training steps on the corpus): about 20 training
///                      tokens per parameter, the compute-optimal ratio of Hoffmann et al. (2022)
///   P <= N             N = the training symbols (char-rnn's rule of thumb: no more parameters
///                      than characters, else the model learns the text by heart)
/// (the smallest when none does). Probing stops at the first model that fails (larger ones fail
/// too: more parameters, fewer tokens per second).
BudgetChoice choose_for_budget(const Corpus& corpus, double seconds, torch::Device device, uint64_t seed);

}  // namespace seqtorch::textgen
