#pragma once
// What the apps store beside a model's weights so a checkpoint alone rebuilds it: short texts
// ("key = value" lines describing the model, vocabularies, a backbone archive) kept as uint8
// buffers of the model.
#include <torch/types.h>

#include <map>
#include <string>

namespace seqtorch::util {

/// The bytes of `text` as a uint8 tensor [N] (CPU).
torch::Tensor bytes_tensor(const std::string& text);
/// The bytes of a uint8 tensor (any device) as a string.
std::string tensor_bytes(const torch::Tensor& bytes);

/// "key = value" lines, one per option (written by the apps' ModelSpec::serialize).
class KeyValues {
 public:
  /// Parses the lines (empty ones and `#` comments skipped, as in config.ini); throws naming
  /// `what` and the line it cannot read.
  KeyValues(const std::string& text, std::string what);
  /// The value of `key`; throws "WHAT: missing 'KEY'".
  const std::string& get(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  /// "true" | "1" | "false" | "0".
  bool get_bool(const std::string& key) const;
  bool has(const std::string& key) const { return values_.count(key) != 0; }

 private:
  std::map<std::string, std::string> values_;
  std::string what_;
};

}  // namespace seqtorch::util
