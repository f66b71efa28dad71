// Parallel text: TSV errors name file and line; tokenisation round trips; vocabularies survive
// their tensor form; the toy tasks are right, repeatable, and keep test targets out of training.
#include <seqtorch/data/parallel.h>
#include <seqtorch/data/toy_tasks.h>

#include "support/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace seqtorch::data {
namespace {

TEST(Parallel, TsvReadsPairsAndNamesTheBadLine) {
  auto pairs = parse_parallel_tsv("Hola.\tHello.\r\n\n  casa \t house\textra\n", "p.tsv");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].source, "Hola.");
  EXPECT_EQ(pairs[0].target, "Hello.");
  EXPECT_EQ(pairs[1].source, "casa");
  EXPECT_EQ(pairs[1].target, "house");  // further columns ignored
  EXPECT_TRUE(test::throws_with([] { parse_parallel_tsv("", "e.tsv"); }, {"e.tsv: no sentence pairs"}));
  EXPECT_TRUE(test::throws_with([] { parse_parallel_tsv("a\tb\nno tab here\n", "t.tsv"); }, {"t.tsv:2: expected source<TAB>target"}));
  EXPECT_TRUE(test::throws_with([] { parse_parallel_tsv("a\tb\n\xC3(\tb\n", "u.tsv"); }, {"u.tsv:2: invalid UTF-8 at byte offset 0"}));
  EXPECT_TRUE(test::throws_with([] { parse_parallel_tsv("a\t \n", "s.tsv"); }, {"s.tsv:1: the target side is empty"}));
  EXPECT_TRUE(test::throws_with([] { parse_parallel_tsv("\tb\n", "s.tsv"); }, {"s.tsv:1: the source side is empty"}));
  EXPECT_TRUE(test::throws_with([] { read_parallel_tsv("/nonexistent/x.tsv"); }, {"/nonexistent/x.tsv: cannot be read"}));
}

TEST(Parallel, TokenizeAndDetokenize) {
  const std::string s = "¿Dijo Dios: «Sea la luz»? Sí, fué (así)... well-known don't";
  auto words = tokenize(s, Units::word);
  EXPECT_EQ(words, (std::vector<std::string>{"¿", "Dijo", "Dios", ":", "«", "Sea", "la", "luz", "»", "?", "Sí", ",",
                                             "fué", "(", "así", ")", ".", ".", ".", "well-known", "don't"}));
  EXPECT_EQ(detokenize(words, Units::word), "¿Dijo Dios: «Sea la luz»? Sí, fué (así)... well-known don't");
  auto chars = tokenize("añ b", Units::character);
  EXPECT_EQ(chars, (std::vector<std::string>{"a", "ñ", " ", "b"}));
  EXPECT_EQ(detokenize(chars, Units::character), "añ b");
  EXPECT_EQ(parse_units("char"), Units::character);
  EXPECT_TRUE(test::throws_with([] { parse_units("bpe"); }, {"units", "char or word", "bpe"}));
}

TEST(Parallel, VocabularyByFrequencyAndThroughItsTensor) {
  auto v = TokenVocabulary::build({{"b", "a", "b"}, {"c", "b", "a"}}, 2, 0);
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<pad>", "<unk>", "<s>", "</s>", "b", "a"}));
  int64_t unknown = 0;
  EXPECT_EQ(v.encode({"a", "c", "b"}, &unknown), (std::vector<int64_t>{5, 1, 4}));
  EXPECT_EQ(unknown, 1);
  EXPECT_EQ(v.decode({4, 1, 5, 3, 4}), (std::vector<std::string>{"b", "<unk>", "a"}));
  auto back = TokenVocabulary::from_tensor(v.to_tensor());
  EXPECT_EQ(back.tokens(), v.tokens());
  EXPECT_EQ(TokenVocabulary::build({{"x", "y", "z"}}, 1, 5).size(), 5);
}

TEST(Parallel, ToyTasksAreRightRepeatableAndHeldOut) {
  auto dates = generate_toy_task("dates", 400, 3, ToySplit::all);
  EXPECT_EQ(dates.size(), 400u);
  for (const auto& p : dates) {
    ASSERT_EQ(p.target.size(), 10u) << p.source;
    EXPECT_EQ(p.target[4], '-');
  }
  // Repeatable, and the seed matters.
  auto again = generate_toy_task("dates", 400, 3, ToySplit::all);
  EXPECT_EQ(again[17].source, dates[17].source);
  EXPECT_NE(generate_toy_task("dates", 5, 4, ToySplit::all)[0].source, dates[0].source);
  // No target of the held-out split appears in the training split.
  for (const std::string task : {"dates", "numbers", "roman"}) {
    std::set<std::string> train_targets;
    for (const auto& p : generate_toy_task(task, 3000, 1, ToySplit::train)) train_targets.insert(p.target);
    for (const auto& p : generate_toy_task(task, 300, 2, ToySplit::test))
      EXPECT_EQ(train_targets.count(p.target), 0u) << task << ": " << p.source;
  }
  // Facts: every weekday written agrees with Zeller's congruence for the target date.
  const char* names[7] = {"sat", "sun", "mon", "tue", "wed", "thu", "fri"};  // Zeller: 0 = Saturday
  int checked = 0;
  for (const auto& p : generate_toy_task("dates", 3000, 9, ToySplit::all)) {
    std::string head = p.source.substr(0, 3);
    for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (std::find(std::begin(names), std::end(names), head) == std::end(names)) continue;
    int y = std::stoi(p.target.substr(0, 4)), m = std::stoi(p.target.substr(5, 2));
    const int d = std::stoi(p.target.substr(8, 2));
    if (m < 3) { m += 12; --y; }
    const int h = (d + 13 * (m + 1) / 5 + y % 100 + (y % 100) / 4 + (y / 100) / 4 + 5 * (y / 100)) % 7;
    EXPECT_EQ(head, names[h]) << p.source << " -> " << p.target;
    ++checked;
  }
  EXPECT_GT(checked, 500);
  for (const auto& p : generate_toy_task("numbers", 2000, 5, ToySplit::all)) {
    if (p.target == "342007") {
      EXPECT_EQ(p.source, "three hundred forty-two thousand seven");
    }
    if (p.target == "21") {
      EXPECT_EQ(p.source, "twenty-one");
    }
  }
  for (const auto& p : generate_toy_task("roman", 2000, 5, ToySplit::all))
    if (p.target == "1994") {
      EXPECT_EQ(p.source, "MCMXCIV");
    }
  EXPECT_TRUE(test::throws_with([] { generate_toy_task("bogus", 1, 1, ToySplit::all); }, {"dates, numbers or roman", "bogus"}));
}

}  // namespace
}  // namespace seqtorch::data
