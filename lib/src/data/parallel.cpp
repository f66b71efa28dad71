#include <seqtorch/data/parallel.h>
#include <seqtorch/data/text.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace seqtorch::data {
namespace {

bool contains(const std::vector<int32_t>& set, int32_t cp) {
  return std::find(set.begin(), set.end(), cp) != set.end();
}
bool is_space(int32_t cp) { return contains(space_code_points(), cp); }
bool is_punctuation(int32_t cp) { return contains(punctuation_code_points(), cp); }
bool no_space_before(const std::string& t) {
  const auto& c = closing_tokens();
  return std::find(c.begin(), c.end(), t) != c.end();
}
bool no_space_after(const std::string& t) {
  const auto& o = opening_tokens();
  return std::find(o.begin(), o.end(), t) != o.end();
}

std::string utf8_of(int32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

}  // namespace

const std::vector<int32_t>& space_code_points() {
  static const std::vector<int32_t> spaces{' ', '\t', '\n', '\v', '\f', '\r', 0xA0};
  return spaces;
}

const std::vector<int32_t>& punctuation_code_points() {
  static const std::vector<int32_t> marks = [] {
    std::vector<int32_t> m;
    for (int32_t c = 33; c < 127; ++c)  // ASCII punctuation but the apostrophe and the hyphen
      if (!std::isalnum(c) && c != '\'' && c != '-') m.push_back(c);
    for (int32_t c : {0xA1, 0xBF, 0xAB, 0xBB, 0x201C, 0x201D, 0x2018, 0x2019, 0x2026, 0x2013, 0x2014})
      m.push_back(c);
    return m;
  }();
  return marks;
}

const std::vector<std::string>& closing_tokens() {
  static const std::vector<std::string> closing{".", ",", ";", ":", "!", "?", ")", "]", "}",
                                                "\xC2\xBB", "\xE2\x80\x9D", "\xE2\x80\x99", "\xE2\x80\xA6"};
  return closing;
}

const std::vector<std::string>& opening_tokens() {
  static const std::vector<std::string> opening{"(", "[", "{", "\xC2\xBF", "\xC2\xA1", "\xC2\xAB",
                                                "\xE2\x80\x9C", "\xE2\x80\x98"};
  return opening;
}

std::vector<SentencePair> parse_parallel_tsv(const std::string& text, const std::string& origin) {
  std::vector<SentencePair> pairs;
  std::istringstream in(text);
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = origin + ":" + std::to_string(number);
    decode_utf8(line, where);  // throws "origin:N: invalid UTF-8 at byte offset K"
    const size_t tab = line.find('\t');
    TORCH_CHECK(tab != std::string::npos, where, ": expected source<TAB>target, found no tab");
    const size_t end = line.find('\t', tab + 1);
    SentencePair p{line.substr(0, tab), line.substr(tab + 1, end == std::string::npos ? std::string::npos : end - tab - 1)};
    auto trim = [](std::string& s) {
      const size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
      s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    trim(p.source);
    trim(p.target);
    TORCH_CHECK(!p.source.empty(), where, ": the source side is empty");
    TORCH_CHECK(!p.target.empty(), where, ": the target side is empty");
    pairs.push_back(std::move(p));
  }
  TORCH_CHECK(!pairs.empty(), origin, ": no sentence pairs (an empty file?)");
  return pairs;
}

std::vector<SentencePair> read_parallel_tsv(const std::string& path) {
  return parse_parallel_tsv(util::read_file(path), path);
}

std::pair<std::vector<SentencePair>, std::vector<SentencePair>> hold_out(
    std::vector<SentencePair> pairs, double fraction, size_t max_held_out, uint64_t seed) {
  TORCH_CHECK(fraction > 0 && fraction < 1, "validation fraction: expected in (0, 1), got ", fraction);
  TORCH_CHECK(pairs.size() >= 2, "at least 2 sentence pairs are needed (one to validate on), got ", pairs.size());
  std::mt19937_64 rng(seed);
  std::shuffle(pairs.begin(), pairs.end(), rng);
  const size_t n = std::max<size_t>(1, std::min<size_t>(max_held_out, static_cast<size_t>(pairs.size() * fraction)));
  std::vector<SentencePair> held(pairs.end() - n, pairs.end());
  pairs.resize(pairs.size() - n);
  return {std::move(pairs), std::move(held)};
}

void write_parallel_tsv(const std::string& path, const std::vector<SentencePair>& pairs) {
  util::write_atomically(path, [&](std::ostream& out) {
    for (const auto& p : pairs) out << p.source << '\t' << p.target << '\n';
  });
}

std::string to_string(Units units) { return units == Units::character ? "char" : "word"; }

Units parse_units(const std::string& name) {
  if (name == "char" || name == "character") return Units::character;
  if (name == "word") return Units::word;
  TORCH_CHECK(false, "units: expected char or word, got '", name, "'");
}

std::vector<std::string> tokenize(const std::string& sentence, Units units) {
  std::vector<std::string> tokens;
  const auto cps = decode_utf8(sentence, "sentence");
  if (units == Units::character) {
    for (int32_t cp : cps) tokens.push_back(utf8_of(cp));
    return tokens;
  }
  std::string word;
  auto flush = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (int32_t cp : cps) {
    if (is_space(cp)) {
      flush();
    } else if (is_punctuation(cp)) {
      flush();
      tokens.push_back(utf8_of(cp));
    } else {
      append_utf8(word, cp);
    }
  }
  flush();
  return tokens;
}

std::string detokenize(const std::vector<std::string>& tokens, Units units) {
  std::string out;
  if (units == Units::character) {
    for (const auto& t : tokens) out += t;
    return out;
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0 && !no_space_before(tokens[i]) && !no_space_after(tokens[i - 1])) out += ' ';
    out += tokens[i];
  }
  return out;
}

TokenVocabulary TokenVocabulary::build(const std::vector<std::vector<std::string>>& sentences,
                                       int64_t min_count, int64_t max_size) {
  TORCH_CHECK(min_count >= 1, "min-count: expected >= 1, got ", min_count);
  TORCH_CHECK(max_size == 0 || max_size > 4, "vocabulary size: expected 0 (no limit) or > 4, got ", max_size);
  std::map<std::string, int64_t> counts;
  for (const auto& s : sentences)
    for (const auto& t : s) ++counts[t];
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& kv : counts)
    if (kv.second >= min_count) kept.push_back(kv);
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> tokens{"<pad>", "<unk>", "<s>", "</s>"};
  for (const auto& kv : kept) {
    if (max_size > 0 && static_cast<int64_t>(tokens.size()) >= max_size) break;
    tokens.push_back(kv.first);
  }
  return TokenVocabulary(std::move(tokens));
}

TokenVocabulary::TokenVocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  TORCH_CHECK(tokens_.size() >= 4 && tokens_[0] == "<pad>" && tokens_[1] == "<unk>" &&
                  tokens_[2] == "<s>" && tokens_[3] == "</s>",
              "token vocabulary: expected <pad> <unk> <s> </s> first");
  for (size_t i = 0; i < tokens_.size(); ++i) {
    TORCH_CHECK(tokens_[i].find('\n') == std::string::npos, "token vocabulary: a token holds a newline");
    ids_.emplace(tokens_[i], static_cast<int64_t>(i));
  }
}

TokenVocabulary TokenVocabulary::from_tensor(const torch::Tensor& bytes) {
  TORCH_CHECK(bytes.dim() == 1 && bytes.scalar_type() == torch::kByte,
              "token vocabulary: expected a uint8 tensor [N], got ", bytes.scalar_type(), " ", bytes.sizes());
  const auto cpu = bytes.to(torch::kCPU).contiguous();
  const std::string text(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), cpu.numel());
  std::vector<std::string> tokens;
  size_t start = 0;
  for (size_t at = text.find('\n'); ; at = text.find('\n', start)) {
    tokens.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return TokenVocabulary(std::move(tokens));
}

int64_t TokenVocabulary::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? unk : it->second;
}

std::vector<int64_t> TokenVocabulary::encode(const std::vector<std::string>& tokens, int64_t* unknown) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& t : tokens) {
    ids.push_back(id(t));
    if (unknown && ids.back() == unk) ++*unknown;
  }
  return ids;
}

std::vector<std::string> TokenVocabulary::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (int64_t i : ids) {
    if (i == eos) break;
    if (i == pad || i == bos) continue;
    out.push_back(i == unk ? std::string("<unk>") : tokens_.at(i));
  }
  return out;
}

torch::Tensor TokenVocabulary::to_tensor() const {
  std::string text;
  for (size_t i = 0; i < tokens_.size(); ++i) text += (i ? "\n" : "") + tokens_[i];
  auto t = torch::empty({static_cast<int64_t>(text.size())}, torch::kByte);
  std::copy(text.begin(), text.end(), reinterpret_cast<char*>(t.data_ptr<uint8_t>()));
  return t;
}

}  // namespace seqtorch::data
