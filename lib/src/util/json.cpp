#include <seqtorch/util/json.h>

#include <cmath>
#include <cstdio>

namespace seqtorch::util {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

JsonObject& JsonObject::raw(const std::string& key, const std::string& json) {
  if (!body_.empty()) body_ += ",";
  body_ += json_quote(key) + ":" + json;
  return *this;
}

JsonObject& JsonObject::add(const std::string& key, double value) {
  if (!std::isfinite(value)) return raw(key, "null");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return raw(key, buf);
}

JsonObject& JsonObject::add(const std::string& key, int64_t value) {
  return raw(key, std::to_string(value));
}

JsonObject& JsonObject::add(const std::string& key, bool value) {
  return raw(key, value ? "true" : "false");
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  return raw(key, json_quote(value));
}

JsonObject& JsonObject::add_all(const std::map<std::string, double>& values,
                                const std::string& prefix) {
  for (const auto& [k, v] : values) add(prefix + k, v);
  return *this;
}

}  // namespace seqtorch::util
