// Text: UTF-8 decoding with byte offsets, the vocabulary round trip (multi-byte code points
// included), unknown symbols, byte mode, and the order of the parallel streams.
#include <seqtorch/data/text.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::data {
namespace {

TEST(Text, VocabularyRoundTripWithMultiByteCodePoints) {
  const std::string text = "naïve café — 漢字 😀 end\n";
  const auto cps = decode_utf8(text, "t");
  EXPECT_EQ(cps.size(), 22u);  // code points, not bytes
  auto vocab = Vocabulary::build(cps, Vocabulary::Unit::codepoint);
  auto ids = vocab.encode(cps);
  EXPECT_EQ(ids.min().item<int64_t>(), 1);  // every seen symbol has an id of its own
  std::vector<int64_t> v(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  EXPECT_EQ(vocab.decode(v), text);
  // Stored as a table and rebuilt, it is the same vocabulary.
  Vocabulary again(vocab.table(), Vocabulary::Unit::codepoint);
  EXPECT_TRUE(torch::equal(again.encode(cps), ids));
  // Unseen symbols map to the reserved unknown id 0 and print as U+FFFD.
  auto unseen = vocab.encode(decode_utf8("zé", "t"));
  EXPECT_EQ(unseen[0].item<int64_t>(), 0);
  EXPECT_EQ(vocab.decode({0, unseen[1].item<int64_t>()}), "\xEF\xBF\xBD" "é");
}

TEST(Text, InvalidUtf8NamesTheByteOffset) {
  EXPECT_TRUE(test::throws_with([] { decode_utf8(std::string("ab\xC3(", 4), "f.txt"); },
                                {"f.txt: invalid UTF-8 at byte offset 2"}));
  EXPECT_TRUE(test::throws_with([] { decode_utf8(std::string("abc\xC0\xAF", 5), "f.txt"); },
                                {"byte offset 3"}));  // overlong '/'
  EXPECT_TRUE(test::throws_with([] { decode_utf8(std::string("\xED\xA0\x80", 3), "f.txt"); },
                                {"byte offset 0"}));  // a surrogate
  EXPECT_TRUE(test::throws_with([] { decode_utf8(std::string("x\xE6\xBC", 3), "f.txt"); },
                                {"byte offset 1"}));  // truncated at the end
  // Byte mode takes anything.
  auto vocab = Vocabulary::build({0xC3, 0x28}, Vocabulary::Unit::byte);
  auto syms = vocab.symbols(std::string("\xC3(", 2), "f");
  EXPECT_EQ(syms, (std::vector<int32_t>{0xC3, 0x28}));
  EXPECT_EQ(vocab.decode({2, 1}), std::string("\xC3(", 2));
}

TEST(Text, BatchifyCutsContiguousStreams) {
  auto ids = torch::arange(11, torch::kLong);
  auto b = batchify(ids, 3);  // 3 streams of 3, the last 2 symbols dropped
  EXPECT_TRUE(torch::equal(b, torch::tensor({{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, torch::kLong)));
  EXPECT_TRUE(test::throws_with([&] { batchify(ids, 12); }, {"11 symbols", "12 parallel streams"}));
}

}  // namespace
}  // namespace seqtorch::data
