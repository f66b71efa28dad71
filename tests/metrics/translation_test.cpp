// BLEU and chrF: sacreBLEU's 13a tokenisation rules, a corpus computed by hand, and the examples
// in sacreBLEU's README (BLEU 48.53 with precisions 82.4/50.0/45.5/37.5, BP 0.943, lengths 17 and
// 18; chrF2 59.73, two references; a perfect single-reference corpus scores 100).
#include <seqtorch/metrics/translation.h>

#include <gtest/gtest.h>

#include <cmath>

namespace seqtorch::metrics {
namespace {

TEST(Translation, Tokenize13aSplitsPunctuationButNotInsideNumbers) {
  EXPECT_EQ(tokenize_13a("The dog bit the man."), "The dog bit the man .");
  EXPECT_EQ(tokenize_13a("It wasn't surprising."), "It wasn't surprising .");
  EXPECT_EQ(tokenize_13a("Pay $3,000.50 (now), ok?"), "Pay $ 3,000.50 ( now ) , ok ?");
  EXPECT_EQ(tokenize_13a("1990-2000 and well-known"), "1990 - 2000 and well-known");
  EXPECT_EQ(tokenize_13a("  a&amp;b  &quot;c&quot; "), "a & b \" c \"");
  EXPECT_EQ(tokenize_13a("dijo: ¿Qué?"), "dijo : ¿Qué ?");
}

TEST(Translation, BleuOfAHandComputedCorpus) {
  // hyp "the cat sat on mat" (5) vs ref "the cat sat on the mat" (6); hyp "a dog" vs ref "a dog".
  // 1-grams 7/7, 2-grams: the cat, cat sat, sat on (3 of 4) + a dog (1 of 1) = 4/5,
  // 3-grams: 2/3 + 0/0 = 2/3, 4-grams: 1/2. BP = exp(1 - 8/7).
  auto s = corpus_bleu({"the cat sat on mat", "a dog"}, {{"the cat sat on the mat", "a dog"}});
  const double expected = std::exp(1 - 8.0 / 7) * std::exp((std::log(1.0) + std::log(0.8) + std::log(2.0 / 3) + std::log(0.5)) / 4);
  EXPECT_NEAR(s.score, 100 * expected, 1e-9);
  EXPECT_EQ(s.hypothesis_length, 7);
  EXPECT_EQ(s.reference_length, 8);
  EXPECT_NEAR(s.precisions[1], 80.0, 1e-9);
  // No 3- or 4-gram matches: sacreBLEU's exp smoothing gives 100 / (2^k * total) to the k-th
  // empty order.
  auto t = corpus_bleu({"a b c d e"}, {{"a b x d e"}});  // 4/5, 2/4, 0/3, 0/2
  EXPECT_NEAR(t.precisions[2], 100.0 / (2 * 3), 1e-9);
  EXPECT_NEAR(t.precisions[3], 100.0 / (4 * 2), 1e-9);
  EXPECT_EQ(corpus_bleu({"x y"}, {{"a b"}}).score, 0.0);
}

TEST(Translation, SacreBleuReadmeExamples) {
  const std::vector<std::string> sys{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
  const std::vector<std::vector<std::string>> refs{
      {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
      {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};
  auto b = corpus_bleu(sys, refs);
  EXPECT_NEAR(b.score, 48.53, 0.005);
  EXPECT_NEAR(b.precisions[0], 82.4, 0.05);
  EXPECT_NEAR(b.precisions[1], 50.0, 0.05);
  EXPECT_NEAR(b.precisions[2], 45.5, 0.05);
  EXPECT_NEAR(b.precisions[3], 37.5, 0.05);
  EXPECT_NEAR(b.brevity_penalty, 0.943, 0.0005);
  EXPECT_EQ(b.hypothesis_length, 17);
  EXPECT_EQ(b.reference_length, 18);
  EXPECT_NEAR(corpus_chrf(sys, refs), 59.73, 0.005);
  EXPECT_NEAR(corpus_bleu(sys, {sys}).score, 100.0, 1e-9);
  EXPECT_NEAR(corpus_chrf(sys, {sys}), 100.0, 1e-9);
}

TEST(Translation, ChrfOfAHandComputedPair) {
  // "ab" vs "abc": orders 1: P 2/2 R 2/3; 2: P 1/1 R 1/2; orders 3..6: the hypothesis has none
  // (not counted). avg P = 1, avg R = 7/12; F2 = 5 P R / (4 P + R).
  const double p = 1.0, r = (2.0 / 3 + 0.5) / 2;
  EXPECT_NEAR(corpus_chrf({"a b"}, {{"abc"}}), 100 * 5 * p * r / (4 * p + r), 1e-9);  // spaces ignored
  EXPECT_THROW(corpus_chrf({"a"}, {{"a", "b"}}), c10::Error);
}

}  // namespace
}  // namespace seqtorch::metrics
