#include <seqtorch/translate/model.h>

#include <torch/torch.h>

#include <map>
#include <set>
#include <sstream>

namespace seqtorch::translate {
namespace {

std::string text_of(const torch::Tensor& bytes) {
  const auto cpu = bytes.to(torch::kCPU).contiguous();
  return std::string(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), cpu.numel());
}

torch::Tensor bytes_of(const std::string& text) {
  auto t = torch::empty({static_cast<int64_t>(text.size())}, torch::kByte);
  std::copy(text.begin(), text.end(), reinterpret_cast<char*>(t.data_ptr<uint8_t>()));
  return t;
}

bool parse_bool(const std::string& v, const std::string& key) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  TORCH_CHECK(false, "model description: ", key, ": expected true or false, got '", v, "'");
}

}  // namespace

std::string ModelSpec::serialize() const {
  const auto& o = seq2seq;
  std::ostringstream out;
  out.precision(17);
  out << "units = " << data::to_string(units) << "\n"
      << "embedding_size = " << o.embedding_size() << "\n"
      << "cell = " << nn::to_string(o.cell()) << "\n"
      << "hidden_size = " << o.hidden_size() << "\n"
      << "num_layers = " << o.num_layers() << "\n"
      << "bidirectional = " << (o.bidirectional() ? "true" : "false") << "\n"
      << "dropout = " << o.dropout() << "\n"
      << "attention = " << nn::to_string(o.attention()) << "\n"
      << "style = " << nn::to_string(o.style()) << "\n"
      << "input_feed = " << (o.input_feed() ? "true" : "false") << "\n"
      << "bridge = " << (o.bridge() ? "true" : "false") << "\n"
      << "tie_embeddings = " << (o.tie_embeddings() ? "true" : "false") << "\n";
  return out.str();
}

ModelSpec ModelSpec::parse(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const size_t eq = line.find(" = ");
    TORCH_CHECK(eq != std::string::npos, "model description: cannot read line '", line, "'");
    kv[line.substr(0, eq)] = line.substr(eq + 3);
  }
  auto get = [&](const std::string& key) {
    auto it = kv.find(key);
    TORCH_CHECK(it != kv.end(), "model description: missing '", key, "'");
    return it->second;
  };
  ModelSpec s;
  s.units = data::parse_units(get("units"));
  s.seq2seq.embedding_size(std::stoll(get("embedding_size")))
      .cell(nn::parse_cell_kind(get("cell")))
      .hidden_size(std::stoll(get("hidden_size")))
      .num_layers(std::stoll(get("num_layers")))
      .bidirectional(parse_bool(get("bidirectional"), "bidirectional"))
      .dropout(std::stod(get("dropout")))
      .attention(nn::parse_attention(get("attention")))
      .style(nn::parse_decoder_style(get("style")))
      .input_feed(parse_bool(get("input_feed"), "input_feed"))
      .bridge(parse_bool(get("bridge"), "bridge"))
      .tie_embeddings(parse_bool(get("tie_embeddings"), "tie_embeddings"));
  return s;
}

TranslationModelImpl::TranslationModelImpl(const ModelSpec& s, data::TokenVocabulary source,
                                           data::TokenVocabulary target)
    : spec(s), source_vocab(std::move(source)), target_vocab(std::move(target)) {
  spec.seq2seq.source_vocab_size(source_vocab.size()).target_vocab_size(target_vocab.size())
      .pad(data::TokenVocabulary::pad);
  seq2seq = register_module("seq2seq", nn::Seq2Seq(spec.seq2seq));
  spec_text = register_buffer("spec_text", bytes_of(spec.serialize()));
  source_tokens = register_buffer("source_tokens", source_vocab.to_tensor());
  target_tokens = register_buffer("target_tokens", target_vocab.to_tensor());
}

std::vector<int64_t> TranslationModelImpl::encode_source(const std::string& sentence, int64_t* unknown) const {
  auto ids = source_vocab.encode(data::tokenize(sentence, spec.units), unknown);
  ids.push_back(data::TokenVocabulary::eos);
  return ids;
}

std::vector<int64_t> TranslationModelImpl::encode_target(const std::string& sentence) const {
  return target_vocab.encode(data::tokenize(sentence, spec.units));
}

std::string TranslationModelImpl::decode_target(const std::vector<int64_t>& ids) const {
  return data::detokenize(target_vocab.decode(ids), spec.units);
}

data::Units auto_units(const std::vector<data::SentencePair>& pairs) {
  int64_t words = 0;
  std::set<std::string> types;
  for (const auto& p : pairs)
    for (const auto& w : data::tokenize(p.target, data::Units::word)) {
      ++words;
      types.insert(w);
    }
  const double per_sentence = static_cast<double>(words) / std::max<size_t>(1, pairs.size());
  const double type_ratio = static_cast<double>(types.size()) / std::max<int64_t>(1, words);
  return per_sentence >= 3 && type_ratio <= 0.3 ? data::Units::word : data::Units::character;
}

TranslationModel model_of_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive, model;
  try {
    archive.load_from(path, torch::Device(torch::kCPU));
  } catch (const c10::Error&) {
    TORCH_CHECK(false, "checkpoint ", path, ": cannot be read (truncated or corrupted?)");
  }
  torch::Tensor spec, source, target;
  TORCH_CHECK(archive.try_read("model", model) && model.try_read("spec_text", spec, true) &&
                  model.try_read("source_tokens", source, true) && model.try_read("target_tokens", target, true),
              "checkpoint ", path, ": holds no translation model (not a seqtorch-translate checkpoint?)");
  return TranslationModel(ModelSpec::parse(text_of(spec)), data::TokenVocabulary::from_tensor(source),
                          data::TokenVocabulary::from_tensor(target));
}

}  // namespace seqtorch::translate
