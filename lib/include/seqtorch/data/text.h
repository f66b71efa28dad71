#pragma once
// Text for language models: UTF-8 decoding with byte-offset errors, a vocabulary of code points
// (or bytes) with a reserved unknown symbol, and the parallel contiguous streams of
// word_language_model. Shapes: N symbols, B streams, V vocabulary.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::data {

/// Code points of UTF-8 `bytes`. Throws "<origin>: invalid UTF-8 at byte offset K" for the first
/// malformed, overlong or surrogate sequence.
std::vector<int32_t> decode_utf8(const std::string& bytes, const std::string& origin);
/// Appends the UTF-8 encoding of code point `cp`.
void append_utf8(std::string& out, int32_t cp);

/// Symbols -> ids 1..V-1 in ascending symbol order; id 0 is the unknown symbol.
class Vocabulary {
 public:
  /// What a symbol is: a Unicode code point, or a byte (--bytes).
  enum class Unit { codepoint, byte };
  /// The vocabulary of every distinct symbol in `symbols`.
  static Vocabulary build(const std::vector<int32_t>& symbols, Unit unit);
  /// From a symbol table [V-1] (int64, ascending, on any device), as stored with a model.
  Vocabulary(torch::Tensor table, Unit unit);

  /// V, the unknown symbol included.
  int64_t size() const { return table_.size(0) + 1; }
  Unit unit() const { return unit_; }
  /// The symbols of `text`: code points (validating UTF-8) or bytes.
  std::vector<int32_t> symbols(const std::string& text, const std::string& origin) const;
  /// Ids of symbols [N] (int64); unseen symbols -> 0.
  torch::Tensor encode(const std::vector<int32_t>& symbols) const;
  /// The id of one symbol (0 if unseen).
  int64_t id(int32_t symbol) const;
  /// Text of ids; the unknown symbol prints as U+FFFD (or '?' in byte mode).
  std::string decode(const std::vector<int64_t>& ids) const;
  /// The symbol table [V-1] (int64), id i+1 <-> table[i].
  const torch::Tensor& table() const { return table_; }

 private:
  torch::Tensor table_;
  std::vector<int32_t> symbols_;  // table_ as a vector, for lookups
  Unit unit_;
};

/// word_language_model's batchify: ids [N] -> [B, N / B], row b the b-th contiguous stream
/// (the tail that does not fill a row is dropped). Throws if N < B.
torch::Tensor batchify(const torch::Tensor& ids, int64_t streams);

}  // namespace seqtorch::data
