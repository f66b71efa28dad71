#include <seqtorch/textgen/corpus.h>

#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

namespace seqtorch::textgen {

std::string read_text_file(const std::string& path) {
  std::string text = util::read_file(path);
  TORCH_CHECK(!text.empty(), path, ": the file is empty");
  return text;
}

Corpus load_corpus(const std::string& path, bool bytes, double val_fraction) {
  TORCH_CHECK(val_fraction > 0 && val_fraction < 1, "val-fraction: expected in (0, 1), got ", val_fraction);
  const std::string text = read_text_file(path);
  const auto unit = bytes ? data::Vocabulary::Unit::byte : data::Vocabulary::Unit::codepoint;
  const auto symbols = data::Vocabulary::build({}, unit).symbols(text, path);
  const int64_t n = static_cast<int64_t>(symbols.size());
  const int64_t n_val = std::max<int64_t>(1, static_cast<int64_t>(n * val_fraction));
  TORCH_CHECK(n - n_val >= 2, path, ": ", n, " symbols are too few to train on");
  std::vector<int32_t> train(symbols.begin(), symbols.end() - n_val), val(symbols.end() - n_val, symbols.end());
  Corpus c{data::Vocabulary::build(train, unit), {}, {}};
  c.train = c.vocab.encode(train);
  c.val = c.vocab.encode(val);
  return c;
}

torch::Tensor encode_text(const data::Vocabulary& vocab, const std::string& text,
                          const std::string& origin, int64_t* unknown) {
  auto ids = vocab.encode(vocab.symbols(text, origin));
  if (unknown) *unknown = (ids == 0).sum().item<int64_t>();
  return ids;
}

}  // namespace seqtorch::textgen
