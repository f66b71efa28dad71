// "key = value" texts: model descriptions in checkpoints and config.ini (whose first line is a
// `#` comment).
#include <seqtorch/util/spec_text.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::util {
namespace {

TEST(KeyValues, ReadsLinesSkipsCommentsAndNamesWhatIsWrong) {
  const KeyValues kv("# effective configuration; repeat the run with --config <this file>\n"
                     "season = 12\nrelative = trend\n\nlr = 0.003\nrefit = true\n",
                     "config.ini");
  EXPECT_TRUE(kv.has("relative"));
  EXPECT_FALSE(kv.has("ensemble"));
  EXPECT_EQ(kv.get("relative"), "trend");
  EXPECT_EQ(kv.get_int("season"), 12);
  EXPECT_DOUBLE_EQ(kv.get_double("lr"), 0.003);
  EXPECT_TRUE(kv.get_bool("refit"));
  EXPECT_TRUE(test::throws_with([&] { kv.get("ensemble"); }, {"config.ini", "missing 'ensemble'"}));
  EXPECT_TRUE(test::throws_with([&] { kv.get_int("relative"); }, {"relative", "expected an integer", "'trend'"}));
  EXPECT_TRUE(test::throws_with([] { KeyValues("season: 12\n", "x.ini"); }, {"x.ini", "cannot read line 'season: 12'"}));
  EXPECT_EQ(tensor_bytes(bytes_tensor("a = 1\n")), "a = 1\n");
}

}  // namespace
}  // namespace seqtorch::util
