#pragma once
// seqtorch-translate's model: the attentional encoder-decoder (nn/seq2seq.h) together with its
// description (units and module options) and both vocabularies, all stored as buffers, so a
// checkpoint alone rebuilds the model (model_of_checkpoint) and an export carries them along.
#include <seqtorch/data/parallel.h>
#include <seqtorch/nn/seq2seq.h>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace seqtorch::translate {

/// What defines a translation model besides its weights and vocabularies.
struct ModelSpec {
  data::Units units = data::Units::character;
  /// Module options; the vocabulary sizes are set from the vocabularies.
  nn::Seq2SeqOptions seq2seq{5, 5};
  /// "key = value" lines, one per option.
  std::string serialize() const;
  /// Parses serialize()'s text; throws naming the line it cannot read.
  static ModelSpec parse(const std::string& text);
};

class TranslationModelImpl : public torch::nn::Module {
 public:
  TranslationModelImpl(const ModelSpec& spec, data::TokenVocabulary source,
                       data::TokenVocabulary target);
  /// Source ids of a sentence: its tokens then </s>. Counts unknown tokens into *unknown.
  std::vector<int64_t> encode_source(const std::string& sentence, int64_t* unknown = nullptr) const;
  /// Target ids of a sentence, without <s> or </s>.
  std::vector<int64_t> encode_target(const std::string& sentence) const;
  /// The sentence of generated target ids (up to </s>).
  std::string decode_target(const std::vector<int64_t>& ids) const;

  ModelSpec spec;
  data::TokenVocabulary source_vocab, target_vocab;
  nn::Seq2Seq seq2seq{nullptr};
  /// Buffers (uint8): the spec text and the two vocabularies (TokenVocabulary::to_tensor).
  torch::Tensor spec_text, source_tokens, target_tokens;
};
TORCH_MODULE(TranslationModel);

/// The units `--units auto` picks for training pairs: words for real sentences (3 or more words a
/// target on average, at most 30% of them distinct), characters otherwise (codes, numbers, the
/// toy tasks).
data::Units auto_units(const std::vector<data::SentencePair>& pairs);

/// The model a seqtorch-translate checkpoint holds (on the CPU, weights not yet loaded: call
/// train::load_checkpoint next). Throws naming the file when it holds no translation model.
TranslationModel model_of_checkpoint(const std::string& path);

}  // namespace seqtorch::translate
