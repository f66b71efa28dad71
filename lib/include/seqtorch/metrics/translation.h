#pragma once
// Corpus-level translation metrics as sacreBLEU 2.x computes them by default: BLEU with the
// mteval-v13a tokenisation, exponential smoothing and the brevity penalty against the closest
// reference length; chrF with character n-grams up to 6, beta 2, whitespace removed. Several
// references per sentence are allowed (each inner vector of `references` is one reference set,
// aligned with the hypotheses, as sacreBLEU's corpus_score takes them).
#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::metrics {

/// sacreBLEU's "13a" tokenisation of one segment (trailing whitespace stripped first): tokens
/// joined by single spaces.
std::string tokenize_13a(const std::string& segment);

struct BleuScore {
  /// 0..100.
  double score = 0;
  /// n-gram precisions in percent (n = 1..4), after smoothing.
  std::vector<double> precisions;
  double brevity_penalty = 0;
  int64_t hypothesis_length = 0, reference_length = 0;
};

/// Corpus BLEU of `hypotheses` against one or more reference sets, each as long as
/// `hypotheses`. Throws when a set's length differs.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& references);

/// Corpus chrF (0..100) of `hypotheses` against one or more reference sets: per sentence the
/// reference with the best sentence-level chrF counts, statistics summed over the corpus.
double corpus_chrf(const std::vector<std::string>& hypotheses,
                   const std::vector<std::vector<std::string>>& references);

}  // namespace seqtorch::metrics
