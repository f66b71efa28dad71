#include <seqtorch/metrics/captioning.h>
#include <seqtorch/data/coco.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace seqtorch::metrics {

namespace {

using Ngram = std::vector<std::string>;
using Counts = std::map<Ngram, double>;

Counts ngram_counts(const std::vector<std::string>& words, size_t max_n) {
  Counts counts;
  for (size_t n = 1; n <= max_n; ++n)
    for (size_t i = 0; i + n <= words.size(); ++i) counts[Ngram(words.begin() + i, words.begin() + i + n)] += 1;
  return counts;
}

struct CiderVector {
  std::map<Ngram, double> vec[4];
  double norm[4] = {0, 0, 0, 0};
  double length = 0;  // bigram count, as pycocoevalcap's cider_scorer
};

}  // namespace

CaptionScores score_captions(const std::vector<std::string>& hypotheses,
                             const std::vector<std::vector<std::string>>& references) {
  TORCH_CHECK(hypotheses.size() == references.size(), "caption scores: ", hypotheses.size(), " captions but ",
              references.size(), " reference sets");
  CaptionScores out;
  if (hypotheses.empty()) return out;
  const size_t N = hypotheses.size();
  std::vector<std::vector<std::string>> hyp(N);
  std::vector<std::vector<std::vector<std::string>>> refs(N);
  for (size_t i = 0; i < N; ++i) {
    TORCH_CHECK(!references[i].empty(), "caption scores: image ", i, " has no reference caption");
    hyp[i] = data::caption_words(hypotheses[i]);
    for (const auto& r : references[i]) refs[i].push_back(data::caption_words(r));
  }
  // BLEU (bleu_scorer.py, option "closest").
  double guess[4] = {0, 0, 0, 0}, correct[4] = {0, 0, 0, 0}, test_len = 0, ref_len = 0;
  for (size_t i = 0; i < N; ++i) {
    const auto counts = ngram_counts(hyp[i], 4);
    Counts max_ref;
    double best_len = 0, best_diff = 1e300;
    for (const auto& r : refs[i]) {
      for (const auto& [g, c] : ngram_counts(r, 4)) max_ref[g] = std::max(max_ref[g], c);
      const double len = static_cast<double>(r.size()), diff = std::abs(len - static_cast<double>(hyp[i].size()));
      if (diff < best_diff || (diff == best_diff && len < best_len)) {
        best_diff = diff;
        best_len = len;
      }
    }
    test_len += static_cast<double>(hyp[i].size());
    ref_len += best_len;
    for (size_t n = 0; n < 4; ++n) guess[n] += std::max(0.0, static_cast<double>(hyp[i].size()) - static_cast<double>(n));
    for (const auto& [g, c] : counts) {
      auto it = max_ref.find(g);
      if (it != max_ref.end()) correct[g.size() - 1] += std::min(c, it->second);
    }
  }
  const double tiny = 1e-15, small = 1e-9;
  double product = 1.0;
  const double ratio = (test_len + tiny) / (ref_len + small);
  for (int n = 0; n < 4; ++n) {
    product *= (correct[n] + tiny) / (guess[n] + small);
    double b = std::pow(product, 1.0 / (n + 1));
    if (ratio < 1) b *= std::exp(1 - 1 / ratio);
    out.bleu[n] = b;
  }
  // CIDEr-D (ciderD_scorer.py).
  std::vector<std::vector<Counts>> ref_counts(N);
  std::vector<Counts> hyp_counts(N);
  std::map<Ngram, double> document_frequency;
  for (size_t i = 0; i < N; ++i) {
    std::set<Ngram> seen;
    for (const auto& r : refs[i]) {
      ref_counts[i].push_back(ngram_counts(r, 4));
      for (const auto& kv : ref_counts[i].back()) seen.insert(kv.first);
    }
    for (const auto& g : seen) document_frequency[g] += 1;
    hyp_counts[i] = ngram_counts(hyp[i], 4);
  }
  const double log_images = std::log(static_cast<double>(N));
  auto to_vector = [&](const Counts& counts) {
    CiderVector v;
    for (const auto& [g, tf] : counts) {
      auto it = document_frequency.find(g);
      const double df = std::log(std::max(1.0, it == document_frequency.end() ? 0.0 : it->second));
      const size_t n = g.size() - 1;
      const double value = tf * (log_images - df);
      v.vec[n][g] = value;
      v.norm[n] += value * value;
      if (n == 1) v.length += tf;
    }
    for (double& x : v.norm) x = std::sqrt(x);
    return v;
  };
  const double sigma = 6.0;
  double total = 0;
  for (size_t i = 0; i < N; ++i) {
    const auto h = to_vector(hyp_counts[i]);
    double score = 0;
    for (const auto& rc : ref_counts[i]) {
      const auto r = to_vector(rc);
      const double delta = h.length - r.length;
      double sum = 0;
      for (int n = 0; n < 4; ++n) {
        double val = 0;
        for (const auto& [g, x] : h.vec[n]) {
          auto it = r.vec[n].find(g);
          if (it != r.vec[n].end()) val += std::min(x, it->second) * it->second;
        }
        if (h.norm[n] != 0 && r.norm[n] != 0) val /= h.norm[n] * r.norm[n];
        sum += val * std::exp(-(delta * delta) / (2 * sigma * sigma));
      }
      score += sum / 4.0;
    }
    total += score / static_cast<double>(ref_counts[i].size()) * 10.0;
  }
  out.cider = total / static_cast<double>(N);
  return out;
}

}  // namespace seqtorch::metrics
