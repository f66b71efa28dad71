// Messages that show what the user gave: short, printable, one line.
#include <seqtorch/util/messages.h>

#include <gtest/gtest.h>

#include <string>

namespace seqtorch::util {
namespace {

TEST(Messages, QuotedIsShortPrintableAndKeepsUtf8) {
  EXPECT_EQ(quoted("abc"), "'abc'");
  EXPECT_EQ(quoted("h\xC3\xA9llo"), "'h\xC3\xA9llo'");                 // é kept
  EXPECT_EQ(quoted(std::string("a\x01\nb\xff", 5)), "'a\\x01\\x0ab\\xff'");  // control, invalid
  EXPECT_EQ(quoted("\xEF\xBB\xBFt"), "'\\xef\\xbb\\xbft'");             // a byte-order mark shows
  const std::string big(1 << 20, 'x');
  const std::string q = quoted(big);
  EXPECT_EQ(q, "'" + std::string(60, 'x') + "'... (1048576 bytes)");
  EXPECT_EQ(printable(std::string("\x1b[31mred\x00", 9)), "\\x1b[31mred\\x00");
}

}  // namespace
}  // namespace seqtorch::util
