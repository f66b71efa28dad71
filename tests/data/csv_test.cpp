// CSV reading and series selection: quoting, line ends, errors with file:line:column, filling.
#include <seqtorch/data/csv.h>
#include <seqtorch/data/series.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::data {
namespace {

TEST(Csv, QuotesLineEndsAndNames) {
  auto t = parse_csv("t,\"a.b c\",\"say \"\"hi\"\"\",\"x,y\"\r\n1,2,3,4\r\n\n2,5,6,\"7\"\n", "f.csv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"t", "a.b c", "say \"hi\"", "x,y"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"2", "5", "6", "7"}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 4}));  // the blank line 3 is skipped
  EXPECT_EQ(column_index(t, "x,y"), 3);
  EXPECT_EQ(split_names("a,\"x,y\",b c"), (std::vector<std::string>{"a", "x,y", "b c"}));
}

TEST(Csv, ErrorsNameFileAndLine) {
  EXPECT_TRUE(test::throws_with([] { parse_csv("", "e.csv"); }, {"e.csv: the file is empty"}));
  EXPECT_TRUE(test::throws_with([] { parse_csv("a,b\n", "h.csv"); }, {"h.csv: only a header"}));
  EXPECT_TRUE(test::throws_with([] { parse_csv("a,b\n1,2\n3\n", "r.csv"); },
                                {"r.csv:3: expected 2 fields", "got 1"}));
  EXPECT_TRUE(test::throws_with([] { parse_csv("a,b\n1,\"2\n", "q.csv"); }, {"q.csv:2: a quoted field is not closed"}));
  auto t = parse_csv("a,b\n1,2\n", "c.csv");
  EXPECT_TRUE(test::throws_with([&] { column_index(t, "z"); }, {"c.csv: no column 'z'", "'a', 'b'"}));
  EXPECT_TRUE(test::throws_with([] { read_csv("/nonexistent/x.csv"); }, {"x.csv: cannot be read: no such file"}));
  EXPECT_TRUE(test::throws_with([] { read_csv("/tmp"); }, {"/tmp: is a folder, not a file"}));
}

TEST(Csv, ByteOrderMarkAndDuplicateNames) {
  // A spreadsheet's UTF-8 byte-order mark is not part of the first name.
  auto t = parse_csv("\xEF\xBB\xBFt,y\n0,1\n", "bom.csv");
  EXPECT_EQ(t.header[0], "t");
  EXPECT_EQ(column_index(t, "t"), 0);
  // A name that appears twice is refused when it is asked for (naming both columns); the
  // other columns still serve.
  auto d = parse_csv("t,y,y\n0,1,2\n", "dup.csv");
  EXPECT_TRUE(test::throws_with([&] { column_index(d, "y"); }, {"dup.csv:1: column 'y' appears twice (columns 2 and 3)"}));
  EXPECT_EQ(column_index(d, "t"), 0);
}

TEST(Series, NonFiniteAndOutOfRangeCellsAreRefusedOrFilled) {
  // 1e308 is a finite double but infinite in float32, 1e400 overflows strtod, nan and inf are
  // not numbers a series can hold: each refused with file:line:column, or filled with --fill.
  auto t = parse_csv("t,y\n0,1\n1,1e308\n2,-1e400\n3,nan\n4,inf\n5,6\n6,1e-400\n", "n.csv");
  const std::vector<std::pair<std::string, std::vector<std::string>>> rows = {
      {"t,y\n0,1\n1,1e308\n", {"n.csv:3:2: column 'y': out of range: '1e308' (float32 holds", "--fill"}},
      {"t,y\n0,1\n1,-1e400\n", {"n.csv:3:2: column 'y': out of range: '-1e400'"}},
      {"t,y\n0,1\n1,nan\n", {"n.csv:3:2: column 'y': not a finite number: 'nan'"}},
      {"t,y\n0,1\n1, -Inf \n", {"n.csv:3:2: column 'y': not a finite number: ' -Inf '"}},
      {"t,y\n0,1\n1," + std::string(1 << 20, '7') + "x\n", {"n.csv:3:2: column 'y': not a number: '777", "(1048577 bytes)"}}};
  for (const auto& [text, parts] : rows) {
    auto one = parse_csv(text, "n.csv");
    EXPECT_TRUE(test::throws_with([&] { select_series(one, {"y"}, {}, "t", FillMethod::none); }, parts));
  }
  auto filled = select_series(t, {"y"}, {}, "t", FillMethod::ffill);
  EXPECT_TRUE(torch::equal(filled.values.select(1, 0),
                           torch::tensor({1.0, 1.0, 1.0, 1.0, 1.0, 6.0, 0.0}, torch::kDouble)));
  auto max = parse_csv("t,y\n0,3.4e38\n1,-3.4e38\n", "m.csv");  // float32's range: kept
  EXPECT_EQ(select_series(max, {"y"}, {}, "t", FillMethod::none).values[0][0].item<double>(), 3.4e38);
}

TEST(Series, BadCellsAndFilling) {
  auto t = parse_csv("t,y,z\n0,1,10\n1,,11\n2,x,12\n3,4,13\n", "s.csv");
  EXPECT_TRUE(test::throws_with([&] { select_series(t, {"y"}, {}, "t", FillMethod::none); },
                                {"s.csv:3:2: column 'y': empty cell", "--fill"}));
  auto lin = select_series(t, {"y"}, {"z"}, "t", FillMethod::linear);
  EXPECT_TRUE(torch::equal(lin.values.select(1, 0), torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kDouble)));
  EXPECT_EQ(lin.targets, 1);
  EXPECT_EQ(lin.time, (std::vector<std::string>{"0", "1", "2", "3"}));
  auto ff = select_series(t, {"y"}, {}, "", FillMethod::ffill);
  EXPECT_TRUE(torch::equal(ff.values.select(1, 0), torch::tensor({1.0, 1.0, 1.0, 4.0}, torch::kDouble)));
  EXPECT_TRUE(test::throws_with([&] { select_series(parse_csv("y\nq\n", "l.csv"), {"y"}, {}, "", FillMethod::linear); },
                                {"no numeric value at all"}));
  auto first = select_series(parse_csv("t,y\n0,\n1,5\n2,6\n", "g.csv"), {"y"}, {}, "", FillMethod::linear);
  EXPECT_EQ(first.values[0][0].item<double>(), 5.0);  // a leading gap takes the first value
}

}  // namespace
}  // namespace seqtorch::data
