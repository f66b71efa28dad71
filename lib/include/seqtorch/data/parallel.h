#pragma once
// Parallel text for translation: TSV files (`source<TAB>target` per line, Tatoeba/Anki style,
// further columns ignored), tokenisation into characters or words, and token vocabularies with
// the four special tokens of sequence-to-sequence models.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace seqtorch::data {

struct SentencePair {
  std::string source, target;
};

/// Parses TSV `text`; `origin` (a file name) prefixes errors as "origin:LINE: ...". Blank lines
/// are skipped; a trailing '\r' is dropped. Throws for: no pairs at all, a line without a tab,
/// invalid UTF-8, an empty source or target.
std::vector<SentencePair> parse_parallel_tsv(const std::string& text, const std::string& origin);
/// Reads and parses a TSV file (an unreadable file: "PATH: cannot be read").
std::vector<SentencePair> read_parallel_tsv(const std::string& path);
/// Splits `pairs` (shuffled with `seed`) into training and held-out pairs: the held-out part is
/// `fraction` of them, at least 1 and at most `max_held_out`. Throws for fewer than 2 pairs or a
/// fraction outside (0, 1).
std::pair<std::vector<SentencePair>, std::vector<SentencePair>> hold_out(
    std::vector<SentencePair> pairs, double fraction, size_t max_held_out, uint64_t seed);
/// `source<TAB>target` lines, written atomically.
void write_parallel_tsv(const std::string& path, const std::vector<SentencePair>& pairs);

/// What a token is.
enum class Units { character, word };
/// "char" | "word".
std::string to_string(Units units);
/// Parses "char" | "character" | "word"; throws naming the valid values otherwise.
Units parse_units(const std::string& name);

/// The code points that separate words (whitespace) and those that are tokens of their own
/// (punctuation) in word units; the tokens detokenize() joins without a space before (closing)
/// or after (opening). Exports copy them, so they tokenise exactly as here.
const std::vector<int32_t>& space_code_points();
const std::vector<int32_t>& punctuation_code_points();
const std::vector<std::string>& closing_tokens();
const std::vector<std::string>& opening_tokens();

/// Tokens of a (valid UTF-8) sentence. character: one token per code point, spaces included.
/// word: runs of characters between whitespace, with each punctuation mark (ASCII punctuation but
/// the apostrophe and the hyphen, and ¡ ¿ « » “ ” ‘ ’ … – —) a token of its own.
std::vector<std::string> tokenize(const std::string& sentence, Units units);
/// The sentence of `tokens`: concatenated (character), or joined by spaces with none before
/// closing punctuation (. , ; : ! ? ) ] } » ” ’ …) nor after opening (( [ { ¿ ¡ « “ ‘) (word).
std::string detokenize(const std::vector<std::string>& tokens, Units units);

/// Tokens <-> ids. Ids 0..3 are <pad>, <unk>, <s> (begin), </s> (end); then the tokens by
/// descending frequency (ties in byte order).
class TokenVocabulary {
 public:
  static constexpr int64_t pad = 0, unk = 1, bos = 2, eos = 3;
  /// The tokens seen at least `min_count` times, at most `max_size` ids in all (0: no limit).
  static TokenVocabulary build(const std::vector<std::vector<std::string>>& sentences,
                               int64_t min_count, int64_t max_size);
  /// From the full token list, specials first (as tokens() returns it).
  explicit TokenVocabulary(std::vector<std::string> tokens);
  /// From the tensor to_tensor() wrote (stored in checkpoints).
  static TokenVocabulary from_tensor(const torch::Tensor& bytes);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  /// The id of `token` (unk if unseen).
  int64_t id(const std::string& token) const;
  const std::string& token(int64_t id) const { return tokens_.at(id); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  /// Ids of tokens (no <s> or </s> added); counts unknown tokens into *unknown when given.
  std::vector<int64_t> encode(const std::vector<std::string>& tokens, int64_t* unknown = nullptr) const;
  /// Tokens of ids up to the first </s>, specials left out (<unk> prints as "<unk>").
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;
  /// The tokens joined by '\n' as a uint8 tensor [N] (tokens never contain '\n').
  torch::Tensor to_tensor() const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace seqtorch::data
