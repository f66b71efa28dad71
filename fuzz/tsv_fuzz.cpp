// Parallel text (data/parallel.h): source<TAB>target lines, tokenised in both units, with the
// token vocabulary round trip a checkpoint stores.
#include <seqtorch/data/parallel.h>

#include "fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqtorch;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::refused_or_fine([&] {
    const auto pairs = data::parse_parallel_tsv(text, "fuzz.tsv");
    fuzz::expect(!pairs.empty(), "no pairs and no error");
    for (auto units : {data::Units::character, data::Units::word}) {
      std::vector<std::vector<std::string>> sentences;
      for (const auto& p : pairs) {
        sentences.push_back(data::tokenize(p.source, units));
        sentences.push_back(data::tokenize(p.target, units));
      }
      const auto vocab = data::TokenVocabulary::build(sentences, 1, 0);
      const auto again = data::TokenVocabulary::from_tensor(vocab.to_tensor());
      fuzz::expect(again.tokens() == vocab.tokens(), "the vocabulary changed through its tensor");
      for (const auto& s : sentences) fuzz::expect(vocab.decode(vocab.encode(s)) == s, "decode(encode(tokens)) != tokens");
    }
  });
  return 0;
}
