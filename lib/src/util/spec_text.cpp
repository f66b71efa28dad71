#include <seqtorch/util/spec_text.h>
#include <seqtorch/util/messages.h>

#include <torch/torch.h>

#include <algorithm>
#include <sstream>

namespace seqtorch::util {

torch::Tensor bytes_tensor(const std::string& text) {
  auto t = torch::empty({static_cast<int64_t>(text.size())}, torch::kByte);
  std::copy(text.begin(), text.end(), reinterpret_cast<char*>(t.data_ptr<uint8_t>()));
  return t;
}

std::string tensor_bytes(const torch::Tensor& bytes) {
  TORCH_CHECK(bytes.scalar_type() == torch::kByte && bytes.dim() == 1, "expected a uint8 tensor [N], got ",
              bytes.scalar_type(), " ", bytes.sizes());
  const auto cpu = bytes.to(torch::kCPU).contiguous();
  return std::string(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), static_cast<size_t>(cpu.numel()));
}

KeyValues::KeyValues(const std::string& text, std::string what) : what_(std::move(what)) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find(" = ");
    TORCH_CHECK(eq != std::string::npos, what_, ": cannot read line ", util::quoted(line));
    values_[line.substr(0, eq)] = line.substr(eq + 3);
  }
}

const std::string& KeyValues::get(const std::string& key) const {
  auto it = values_.find(key);
  TORCH_CHECK(it != values_.end(), what_, ": missing ", util::quoted(key));
  return it->second;
}

int64_t KeyValues::get_int(const std::string& key) const {
  const auto& v = get(key);
  try {
    size_t used = 0;
    const int64_t x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  TORCH_CHECK(false, what_, ": ", util::quoted(key), ": expected an integer, got ", util::quoted(v));
}

double KeyValues::get_double(const std::string& key) const {
  const auto& v = get(key);
  try {
    size_t used = 0;
    const double x = std::stod(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  TORCH_CHECK(false, what_, ": ", util::quoted(key), ": expected a number, got ", util::quoted(v));
}

bool KeyValues::get_bool(const std::string& key) const {
  const auto& v = get(key);
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  TORCH_CHECK(false, what_, ": ", util::quoted(key), ": expected true or false, got ", util::quoted(v));
}

}  // namespace seqtorch::util
