#include <seqtorch/translate/model.h>
#include <seqtorch/train/checkpoint.h>

#include <seqtorch/util/spec_text.h>

#include <torch/torch.h>

#include <map>
#include <set>
#include <sstream>

namespace seqtorch::translate {

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
  const util::KeyValues kv(text, "model description");
  ModelSpec s;
  s.units = data::parse_units(kv.get("units"));
  s.seq2seq.embedding_size(kv.get_int("embedding_size"))
      .cell(nn::parse_cell_kind(kv.get("cell")))
      .hidden_size(kv.get_int("hidden_size"))
      .num_layers(kv.get_int("num_layers"))
      .bidirectional(kv.get_bool("bidirectional"))
      .dropout(kv.get_double("dropout"))
      .attention(nn::parse_attention(kv.get("attention")))
      .style(nn::parse_decoder_style(kv.get("style")))
      .input_feed(kv.get_bool("input_feed"))
      .bridge(kv.get_bool("bridge"))
      .tie_embeddings(kv.get_bool("tie_embeddings"));
  return s;
}

TranslationModelImpl::TranslationModelImpl(const ModelSpec& s, data::TokenVocabulary source,
                                           data::TokenVocabulary target)
    : spec(s), source_vocab(std::move(source)), target_vocab(std::move(target)) {
  spec.seq2seq.source_vocab_size(source_vocab.size()).target_vocab_size(target_vocab.size())
      .pad(data::TokenVocabulary::pad);
  seq2seq = register_module("seq2seq", nn::Seq2Seq(spec.seq2seq));
  spec_text = register_buffer("spec_text", util::bytes_tensor(spec.serialize()));
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
  torch::serialize::InputArchive archive = train::open_checkpoint(path), model;  // checked, CPU
  torch::Tensor spec, source, target;
  TORCH_CHECK(archive.try_read("model", model) && model.try_read("spec_text", spec, true) &&
                  model.try_read("source_tokens", source, true) && model.try_read("target_tokens", target, true),
              "checkpoint ", path, ": holds no translation model (not a seqtorch-translate checkpoint?)");
  return TranslationModel(ModelSpec::parse(util::tensor_bytes(spec)), data::TokenVocabulary::from_tensor(source),
                          data::TokenVocabulary::from_tensor(target));
}

}  // namespace seqtorch::translate
