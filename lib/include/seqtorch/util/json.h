#pragma once
// One flat JSON object built field by field, for metrics lines. Non-finite numbers become null.
#include <cstdint>
#include <map>
#include <string>

namespace seqtorch::util {

class JsonObject {
 public:
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, int value) { return add(key, static_cast<int64_t>(value)); }
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  /// Adds every entry of `values` (keys prefixed with `prefix`).
  JsonObject& add_all(const std::map<std::string, double>& values, const std::string& prefix = "");
  /// The object on one line: {"a":1,"b":"x"}.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonObject& raw(const std::string& key, const std::string& json);
  std::string body_;
};

/// A string as a JSON string literal, quotes included.
std::string json_quote(const std::string& s);

}  // namespace seqtorch::util
