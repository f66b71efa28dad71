#include <seqtorch/data/text.h>

#include <torch/torch.h>

#include <algorithm>

namespace seqtorch::data {

std::vector<int32_t> decode_utf8(const std::string& bytes, const std::string& origin) {
  std::vector<int32_t> out;
  out.reserve(bytes.size());
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    int len = 0;
    int32_t cp = 0;
    if (c < 0x80) { len = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const int32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= min_for_len[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    TORCH_CHECK(ok, origin, ": invalid UTF-8 at byte offset ", i);
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

Vocabulary Vocabulary::build(const std::vector<int32_t>& symbols, Unit unit) {
  std::vector<int32_t> sorted(symbols);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<int64_t> wide(sorted.begin(), sorted.end());
  return Vocabulary(torch::tensor(wide, torch::kLong), unit);
}

// The table is kept on the CPU whatever device `table` is on (a model's buffer may live on a
// GPU): the lookups below read its memory directly.
Vocabulary::Vocabulary(torch::Tensor table, Unit unit)
    : table_(table.to(torch::kCPU, torch::kLong).contiguous()), unit_(unit) {
  TORCH_CHECK(table_.dim() == 1, "vocabulary: expected a 1-D symbol table, got ", table_.sizes());
  const int64_t* p = table_.data_ptr<int64_t>();
  symbols_.assign(p, p + table_.numel());
  TORCH_CHECK(std::is_sorted(symbols_.begin(), symbols_.end()), "vocabulary: symbol table not sorted");
}

std::vector<int32_t> Vocabulary::symbols(const std::string& text, const std::string& origin) const {
  if (unit_ == Unit::codepoint) return decode_utf8(text, origin);
  return std::vector<int32_t>(reinterpret_cast<const unsigned char*>(text.data()),
                              reinterpret_cast<const unsigned char*>(text.data()) + text.size());
}

int64_t Vocabulary::id(int32_t symbol) const {
  auto it = std::lower_bound(symbols_.begin(), symbols_.end(), symbol);
  return it != symbols_.end() && *it == symbol ? (it - symbols_.begin()) + 1 : 0;
}

torch::Tensor Vocabulary::encode(const std::vector<int32_t>& symbols) const {
  auto out = torch::empty({static_cast<int64_t>(symbols.size())}, torch::kLong);
  auto* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < symbols.size(); ++i) p[i] = id(symbols[i]);
  return out;
}

std::string Vocabulary::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t i : ids) {
    TORCH_CHECK(i >= 0 && i < size(), "vocabulary: id ", i, " outside [0, ", size(), ")");
    if (unit_ == Unit::byte) out += i == 0 ? '?' : static_cast<char>(symbols_[i - 1]);
    else append_utf8(out, i == 0 ? 0xFFFD : symbols_[i - 1]);
  }
  return out;
}

torch::Tensor batchify(const torch::Tensor& ids, int64_t streams) {
  TORCH_CHECK(streams >= 1, "streams: expected >= 1, got ", streams);
  const int64_t per = ids.numel() / streams;
  TORCH_CHECK(per >= 1, "the text has ", ids.numel(), " symbols, fewer than the ", streams,
              " parallel streams of a batch");
  return ids.narrow(0, 0, per * streams).view({streams, per});
}

}  // namespace seqtorch::data
