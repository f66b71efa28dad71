#pragma once
// Translating with a trained model through the shared decoding engine (decode/decoding.h):
// sentences are batched by length, decoded greedily or with beam search (GNMT length penalty,
// maximum length relative to the source), with n-best lists and attention weights.
#include <seqtorch/decode/decoding.h>
#include <seqtorch/translate/model.h>

#include <map>
#include <string>
#include <vector>

namespace seqtorch::translate {

struct TranslateOptions {
  /// Beam width (1: greedy).
  int64_t beam = 5;
  /// Translations returned per sentence (<= beam).
  int64_t n_best = 1;
  /// GNMT length penalty alpha (0: none).
  double length_penalty = 0.6;
  /// A translation stops after ratio * source tokens + offset tokens.
  double max_length_ratio = 2.0;
  int64_t max_length_offset = 10;
  /// Sentences decoded together.
  int64_t batch_size = 32;
  /// Keep the best translation's attention weights.
  bool keep_attention = false;
};
/// Throws naming the option for beam < 1, n_best outside [1, beam], negative penalty or ratio,
/// batch_size < 1.
void check(const TranslateOptions& options);

struct Translation {
  /// n_best translations, best first, and their scores (log P / length penalty).
  std::vector<std::string> texts;
  std::vector<double> scores;
  /// The best translation's tokens and the source tokens (</s> included on both sides).
  std::vector<std::string> source_tokens, target_tokens;
  /// attention [target tokens, source tokens] of the best translation (keep_attention).
  torch::Tensor attention;
};

/// The decoders' view of a Seq2Seq model. State rows: h, c [L, N, H] (dim 1); feed [N, H];
/// memory values, keys [N, S, .] and mask [N, S] (dim 0).
class Seq2SeqStepModel : public decode::StepModel {
 public:
  explicit Seq2SeqStepModel(nn::Seq2Seq model) : model_(std::move(model)) {}
  /// Encodes source [S, N] with lengths [N]: the start of a search (log-probabilities of the
  /// first target token after <s>).
  decode::StepResult start(const torch::Tensor& source, const torch::Tensor& lengths);
  decode::StepResult step(const torch::Tensor& tokens, const decode::StepState& state) override;

 private:
  nn::Seq2Seq model_;
};

/// Translates `sentences` on `device` (the model is moved there; eval mode).
std::vector<Translation> translate(TranslationModel& model, const std::vector<std::string>& sentences,
                                   const TranslateOptions& options, torch::Device device);

/// The attention of the first `count` translations (kept with keep_attention) as the JSON list
/// scripts/plot_attention.py reads: [{"source": [...], "target": [...], "weights": [[...]]}].
std::string attention_json(const std::vector<Translation>& translations, size_t count);

/// Corpus metrics of translations against references: "bleu", "chrf", "exact_match" (fraction of
/// sentences equal to the reference), "sentences".
std::map<std::string, double> score_translations(const std::vector<std::string>& hypotheses,
                                                 const std::vector<std::string>& references);

}  // namespace seqtorch::translate
