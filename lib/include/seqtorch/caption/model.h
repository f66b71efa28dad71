#pragma once
// seqtorch-caption's model: the captioner (nn/captioner.h) with its description, its vocabulary
// and, for a TorchScript backbone, the backbone archive itself, all stored as buffers: a
// checkpoint alone rebuilds the model (model_of_checkpoint) and an export carries them along.
#include <seqtorch/data/parallel.h>
#include <seqtorch/nn/alignment.h>
#include <seqtorch/nn/captioner.h>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace seqtorch::caption {

/// What defines a captioning model besides its weights and vocabulary.
struct ModelSpec {
  /// Module options; the vocabulary size is set from the vocabulary.
  nn::CaptionerOptions captioner{5};
  /// "key = value" lines.
  std::string serialize() const;
  /// Parses serialize()'s text; throws naming what it cannot read.
  static ModelSpec parse(const std::string& text);
};

/// The vocabulary of training captions: data::caption_words, lower-cased, words seen at least
/// `min_count` times (the rest are <unk>), at most `max_size` ids (0: no limit).
data::TokenVocabulary build_vocabulary(const std::vector<std::string>& captions, int64_t min_count, int64_t max_size);

class CaptionModelImpl : public torch::nn::Module {
 public:
  /// `backbone_archive`: the bytes of a TorchScript backbone file, or empty for the CNN.
  CaptionModelImpl(const ModelSpec& spec, data::TokenVocabulary vocab, const std::string& backbone_archive = "");
  /// Word ids of a caption (no <s> or </s>).
  std::vector<int64_t> encode_caption(const std::string& caption) const;
  /// The caption of generated ids (up to </s>), words joined by spaces.
  std::string decode_caption(const std::vector<int64_t>& ids) const;

  /// The image encoder of whichever model this is.
  nn::ImageEncoder& encoder();
  /// Copies the image encoder's weights and the word embedding (where the sizes agree) of
  /// `other` (e.g. a trained alignment model) into this model. Returns what was copied
  /// ("encoder", "embedding"); throws when the encoders differ.
  std::vector<std::string> initialise_from(CaptionModelImpl& other);

  ModelSpec spec;
  data::TokenVocabulary vocab;
  /// One of the two is set: the captioner (decoder show_tell or attend), or the alignment
  /// model (decoder align).
  nn::Captioner captioner{nullptr};
  nn::Aligner aligner{nullptr};
  /// Buffers (uint8): the spec text, the vocabulary, the backbone archive (empty for the CNN).
  torch::Tensor spec_text, vocab_tokens, backbone_archive;
};
TORCH_MODULE(CaptionModel);

/// Reads a TorchScript backbone file: its bytes (for CaptionModelImpl). Throws "PATH: cannot be
/// read" or "PATH: not a TorchScript archive (...)".
std::string read_backbone(const std::string& path);

/// The model a seqtorch-caption checkpoint holds (on the CPU, weights not yet loaded: call
/// train::load_checkpoint next). Throws naming the file when it holds no captioning model.
CaptionModel model_of_checkpoint(const std::string& path);

}  // namespace seqtorch::caption
