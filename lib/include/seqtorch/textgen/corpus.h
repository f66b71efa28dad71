#pragma once
// A text for the character language model: read, split (the last val_fraction is validation),
// the vocabulary built from the training part, both parts encoded.
#include <seqtorch/data/text.h>

#include <string>

namespace seqtorch::textgen {

struct Corpus {
  data::Vocabulary vocab;
  /// [N_train], [N_val] int64 ids.
  torch::Tensor train, val;
};

/// The bytes of a file; throws for a missing or empty file.
std::string read_text_file(const std::string& path);

/// Reads `path` as code points (UTF-8, validated) or bytes. Throws for an empty file,
/// invalid UTF-8 (naming the byte offset), a val_fraction outside (0, 1).
Corpus load_corpus(const std::string& path, bool bytes, double val_fraction);

/// Ids of `text` under `vocab`; returns how many symbols were unknown in `unknown`.
torch::Tensor encode_text(const data::Vocabulary& vocab, const std::string& text,
                          const std::string& origin, int64_t* unknown = nullptr);

}  // namespace seqtorch::textgen
