#include <seqtorch/metrics/translation.h>
#include <seqtorch/data/text.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <sstream>

namespace seqtorch::metrics {
namespace {

constexpr int kBleuOrder = 4, kChrfOrder = 6;
constexpr double kChrfBeta = 2;

std::string rstrip(const std::string& s) {
  size_t end = s.size();
  while (end > 0 && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return s.substr(0, end);
}

std::vector<std::string> split_spaces(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

void check_sets(size_t n, const std::vector<std::vector<std::string>>& references, const char* what) {
  TORCH_CHECK(!references.empty(), what, ": expected at least one reference set");
  for (size_t r = 0; r < references.size(); ++r)
    TORCH_CHECK(references[r].size() == n, what, ": reference set ", r, " has ", references[r].size(),
                " segments, expected ", n, " (one per hypothesis)");
}

using NgramCounts = std::map<std::vector<std::string>, int64_t>;

NgramCounts word_ngrams(const std::vector<std::string>& words) {
  NgramCounts counts;
  for (int n = 1; n <= kBleuOrder; ++n)
    for (size_t i = 0; i + n <= words.size(); ++i)
      ++counts[std::vector<std::string>(words.begin() + i, words.begin() + i + n)];
  return counts;
}

// Character n-gram counts per order of a segment with its whitespace removed (code points).
std::vector<std::map<std::u32string, int64_t>> char_ngrams(const std::string& segment) {
  std::u32string chars;
  for (int32_t cp : data::decode_utf8(segment, "chrF segment"))
    if (!(cp == ' ' || (cp >= 9 && cp <= 13))) chars.push_back(static_cast<char32_t>(cp));
  std::vector<std::map<std::u32string, int64_t>> out(kChrfOrder);
  for (int n = 1; n <= kChrfOrder; ++n)
    for (size_t i = 0; i + n <= chars.size(); ++i) ++out[n - 1][chars.substr(i, n)];
  return out;
}

double chrf_of(const std::vector<int64_t>& stats) {
  const double factor = kChrfBeta * kChrfBeta;
  double precision = 0, recall = 0;
  int effective = 0;
  for (int i = 0; i < kChrfOrder; ++i) {
    const double hyp = stats[3 * i], ref = stats[3 * i + 1], match = stats[3 * i + 2];
    if (hyp > 0 && ref > 0) {
      precision += match / hyp;
      recall += match / ref;
      ++effective;
    }
  }
  if (effective == 0) return 0;
  precision /= effective;
  recall /= effective;
  if (precision + recall == 0) return 0;
  return 100 * (1 + factor) * precision * recall / (factor * precision + recall);
}

}  // namespace

std::string tokenize_13a(const std::string& segment) {
  std::string line = rstrip(segment);
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  replace_all(line, "&quot;", "\"");
  replace_all(line, "&amp;", "&");
  replace_all(line, "&lt;", "<");
  replace_all(line, "&gt;", ">");
  line = " " + line + " ";
  // mteval-v13a's rules, applied in order (bytes here, code points in Python: the same result,
  // as every pattern names ASCII characters only on one side).
  static const std::regex punctuation(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
  static const std::regex period_comma_after(R"(([^0-9])([\.,]))");
  static const std::regex period_comma_before(R"(([\.,])([^0-9]))");
  static const std::regex dash_after_digit(R"(([0-9])(-))");
  line = std::regex_replace(line, punctuation, " $1 ");
  line = std::regex_replace(line, period_comma_after, "$1 $2 ");
  line = std::regex_replace(line, period_comma_before, " $1 $2");
  line = std::regex_replace(line, dash_after_digit, "$1 $2 ");
  std::string out;
  for (const auto& w : split_spaces(line)) out += (out.empty() ? "" : " ") + w;
  return out;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& references) {
  check_sets(hypotheses.size(), references, "BLEU");
  std::vector<int64_t> correct(kBleuOrder, 0), total(kBleuOrder, 0);
  int64_t sys_len = 0, ref_len = 0;
  for (size_t s = 0; s < hypotheses.size(); ++s) {
    const auto hyp = split_spaces(tokenize_13a(hypotheses[s]));
    NgramCounts ref_max;
    int64_t closest = -1, closest_diff = -1;
    for (const auto& set : references) {
      const auto ref = split_spaces(tokenize_13a(set[s]));
      const int64_t len = static_cast<int64_t>(ref.size());
      const int64_t diff = std::abs(static_cast<int64_t>(hyp.size()) - len);
      if (closest_diff < 0 || diff < closest_diff || (diff == closest_diff && len < closest)) {
        closest_diff = diff;
        closest = len;
      }
      for (const auto& [gram, count] : word_ngrams(ref)) ref_max[gram] = std::max(ref_max[gram], count);
    }
    sys_len += static_cast<int64_t>(hyp.size());
    ref_len += closest;
    for (const auto& [gram, count] : word_ngrams(hyp)) {
      total[gram.size() - 1] += count;
      auto it = ref_max.find(gram);
      if (it != ref_max.end()) correct[gram.size() - 1] += std::min(count, it->second);
    }
  }
  BleuScore r;
  r.hypothesis_length = sys_len;
  r.reference_length = ref_len;
  r.brevity_penalty = sys_len < ref_len ? (sys_len > 0 ? std::exp(1 - double(ref_len) / sys_len) : 0.0) : 1.0;
  r.precisions.assign(kBleuOrder, 0.0);
  if (std::all_of(correct.begin(), correct.end(), [](int64_t c) { return c == 0; })) return r;
  double smooth = 1;
  for (int n = 0; n < kBleuOrder; ++n) {
    if (total[n] == 0) break;
    if (correct[n] == 0) {
      smooth *= 2;  // sacreBLEU's "exp" smoothing (mteval's NIST method)
      r.precisions[n] = 100.0 / (smooth * total[n]);
    } else {
      r.precisions[n] = 100.0 * correct[n] / total[n];
    }
  }
  double log_sum = 0;
  for (double p : r.precisions) log_sum += p > 0 ? std::log(p) : -9999999999.0;
  r.score = r.brevity_penalty * std::exp(log_sum / kBleuOrder);
  return r;
}

double corpus_chrf(const std::vector<std::string>& hypotheses,
                   const std::vector<std::vector<std::string>>& references) {
  check_sets(hypotheses.size(), references, "chrF");
  std::vector<int64_t> corpus(3 * kChrfOrder, 0);
  for (size_t s = 0; s < hypotheses.size(); ++s) {
    const auto hyp = char_ngrams(hypotheses[s]);
    std::vector<int64_t> best;
    double best_f = -1;
    for (const auto& set : references) {
      const auto ref = char_ngrams(set[s]);
      std::vector<int64_t> stats(3 * kChrfOrder, 0);
      for (int n = 0; n < kChrfOrder; ++n) {
        int64_t hyp_count = 0, ref_count = 0, match = 0;
        for (const auto& [gram, count] : hyp[n]) {
          hyp_count += count;
          auto it = ref[n].find(gram);
          if (it != ref[n].end()) match += std::min(count, it->second);
        }
        for (const auto& kv : ref[n]) ref_count += kv.second;
        // As sacreBLEU: hypothesis n-grams do not count where the reference has none.
        stats[3 * n] = ref[n].empty() ? 0 : hyp_count;
        stats[3 * n + 1] = ref_count;
        stats[3 * n + 2] = match;
      }
      const double f = chrf_of(stats);
      if (f > best_f) {
        best_f = f;
        best = stats;
      }
    }
    for (size_t i = 0; i < corpus.size(); ++i) corpus[i] += best[i];
  }
  return chrf_of(corpus);
}

}  // namespace seqtorch::metrics
