// UTF-8 text and its vocabularies (data/text.h): decoding, building, encoding and decoding back
// must give the text again; byte vocabularies take any input.
#include <seqtorch/data/text.h>

#include "fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqtorch;
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (auto unit : {data::Vocabulary::Unit::codepoint, data::Vocabulary::Unit::byte}) {
    fuzz::refused_or_fine([&] {
      const auto symbols = data::Vocabulary::build({}, unit).symbols(text, "fuzz.txt");
      const auto vocab = data::Vocabulary::build(symbols, unit);
      const torch::Tensor ids = vocab.encode(symbols);
      fuzz::expect(ids.numel() == static_cast<int64_t>(symbols.size()), "encode changed the length");
      std::vector<int64_t> list(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
      fuzz::expect(vocab.decode(list) == text, "decode(encode(text)) != text");
      // The vocabulary as a checkpoint stores it.
      const data::Vocabulary stored(vocab.table().clone(), unit);
      fuzz::expect(stored.size() == vocab.size(), "a stored vocabulary of another size");
    });
  }
  return 0;
}
