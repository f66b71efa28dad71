#include <seqtorch/util/messages.h>

#include <algorithm>
#include <cstdio>

namespace seqtorch::util {

namespace {
// Appends value[begin, end) to `out` escaped; returns where it stopped.
size_t escape(const std::string& value, size_t end, std::string& out) {
  size_t i = 0;
  for (; i < end; ++i) {
    const auto ch = static_cast<unsigned char>(value[i]);
    const size_t len = ch < 0x80 ? 1 : (ch >> 5) == 0x6 ? 2 : (ch >> 4) == 0xe ? 3 : (ch >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= value.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(value[i + k]) >> 6) == 0x2;
    const bool bom = ok && len == 3 && value.compare(i, 3, "\xEF\xBB\xBF") == 0;
    if (ok && len > 1 && !bom) {
      out.append(value, i, len);
      i += len - 1;
    } else if (ok && len == 1 && ch >= 0x20 && ch != 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    }
  }
  return i;
}
}  // namespace

std::string quoted(const std::string& value, size_t max_bytes) {
  std::string out = "'";
  const size_t stop = escape(value, std::min(value.size(), max_bytes), out);
  out += "'";
  if (stop < value.size()) out += "... (" + std::to_string(value.size()) + " bytes)";
  return out;
}

std::string printable(const std::string& text) {
  std::string out;
  escape(text, text.size(), out);
  return out;
}

}  // namespace seqtorch::util
