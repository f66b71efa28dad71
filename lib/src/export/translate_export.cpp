#include <seqtorch/export/translate_export.h>
#include <seqtorch/export/script_module.h>

#include <torch/torch.h>

namespace seqtorch::exporting {

torch::jit::Module script_translation_model(translate::TranslationModel& model,
                                            const translate::TranslateOptions& defaults) {
  translate::check(defaults);
  model->eval();
  auto& s2s = model->seq2seq;
  const auto& o = s2s->options;
  auto jm = mirror_module(*model, "TranslationModel");
  const bool lstm = o.cell() == nn::CellKind::lstm;
  const auto fopts = s2s->target_embedding->weight.options();
  // Examples: a source of 3 steps, 2 rows; the graphs stay generic in S and N.
  const auto source = torch::randint(4, s2s->options.source_vocab_size(), {3, 1}, torch::kLong);
  add_traced_method(jm, "encode", {"source"}, {source}, [&](const std::vector<torch::Tensor>& in) {
    auto enc = s2s->encode(in[0]);
    auto mem = s2s->memory(enc);
    return std::vector<torch::Tensor>{enc.state.h, lstm ? enc.state.c : enc.state.h, mem.values, mem.keys, mem.mask};
  });
  torch::Tensor h, c, values, keys, mask;
  {
    torch::NoGradGuard no_grad;
    auto enc = s2s->encode(torch::cat({source, source}, 1));
    auto mem = s2s->memory(enc);
    h = enc.state.h;
    c = lstm ? enc.state.c : enc.state.h.clone();
    values = mem.values;
    keys = mem.keys;
    mask = mem.mask;
  }
  const auto tokens = torch::full({2}, data::TokenVocabulary::bos, torch::kLong);
  const auto feed = torch::zeros({2, o.hidden_size()}, fopts);
  add_traced_method(jm, "decode_step", {"tokens", "h", "c", "feed", "values", "keys", "mask"},
                    {tokens, h, c, feed, values, keys, mask}, [&](const std::vector<torch::Tensor>& in) {
                      nn::DecoderState state{{in[1], lstm ? in[2] : torch::Tensor()}, o.input_feed() ? in[3] : torch::Tensor()};
                      auto out = s2s->step(in[0], state, nn::AttentionMemory{in[4], in[5], in[6]});
                      return std::vector<torch::Tensor>{torch::log_softmax(out.logits, -1), out.state.rnn.h,
                                                        lstm ? out.state.rnn.c : in[2],
                                                        o.input_feed() ? out.state.feed : in[3], out.attention};
                    });
  c10::List<std::string> source_tokens, target_tokens, closing, opening;
  c10::Dict<std::string, int64_t> source_ids;
  for (int64_t i = 0; i < model->source_vocab.size(); ++i) {
    source_tokens.push_back(model->source_vocab.token(i));
    source_ids.insert(model->source_vocab.token(i), i);
  }
  for (int64_t i = 0; i < model->target_vocab.size(); ++i) target_tokens.push_back(model->target_vocab.token(i));
  for (const auto& t : data::closing_tokens()) closing.push_back(t);
  for (const auto& t : data::opening_tokens()) opening.push_back(t);
  c10::List<int64_t> spaces, punctuation;
  for (int32_t cp : data::space_code_points()) spaces.push_back(cp);
  for (int32_t cp : data::punctuation_code_points()) punctuation.push_back(cp);
  const auto strings = c10::ListType::ofStrings();
  const auto ints = c10::ListType::ofInts();
  jm.register_attribute("source_vocab", strings, source_tokens);
  jm.register_attribute("target_vocab", strings, target_tokens);
  jm.register_attribute("source_ids", c10::DictType::create(c10::StringType::get(), c10::IntType::get()), source_ids);
  jm.register_attribute("closing_tokens", strings, closing);
  jm.register_attribute("opening_tokens", strings, opening);
  jm.register_attribute("space_code_points", ints, spaces);
  jm.register_attribute("punctuation_code_points", ints, punctuation);
  jm.register_attribute("units", c10::StringType::get(), data::to_string(model->spec.units));
  jm.register_attribute("hidden_size", c10::IntType::get(), o.hidden_size());
  jm.register_attribute("length_penalty", c10::FloatType::get(), defaults.length_penalty);
  define_utf8_decoder(jm);
  define_beam_search(jm);
  jm.register_attribute("max_length_ratio", c10::FloatType::get(), defaults.max_length_ratio);
  jm.register_attribute("max_length_offset", c10::IntType::get(), defaults.max_length_offset);
  jm.define(R"(
def tokenize(self, text: str) -> List[str]:
    decoded = self.code_points(text)
    if self.units == "char":
        return decoded[1]
    tokens: List[str] = []
    word = ""
    for i in range(len(decoded[0])):
        cp = decoded[0][i]
        piece = decoded[1][i]
        if cp in self.space_code_points:
            if word != "":
                tokens.append(word)
            word = ""
        elif cp in self.punctuation_code_points:
            if word != "":
                tokens.append(word)
            word = ""
            tokens.append(piece)
        else:
            word += piece
    if word != "":
        tokens.append(word)
    return tokens

def detokenize(self, ids: List[int]) -> str:
    text = ""
    previous = ""
    first = True
    for i in ids:
        if i == 3:
            break
        if i == 0 or i == 2:
            continue
        t = self.target_vocab[i]
        if self.units == "word" and not first and not (t in self.closing_tokens) and not (previous in self.opening_tokens):
            text += " "
        text += t
        previous = t
        first = False
    return text

def encode_source(self, text: str) -> List[int]:
    ids: List[int] = []
    for t in self.tokenize(text):
        if t in self.source_ids:
            ids.append(self.source_ids[t])
        else:
            ids.append(1)
    ids.append(3)
    return ids

def translate(self, text: str, beam: int) -> str:
    assert beam >= 1, "beam: expected >= 1"
    ids = self.encode_source(text)
    bound = self.max_length_ratio * float(len(ids))
    max_len = int(bound)
    if float(max_len) < bound:
        max_len += 1
    max_len += self.max_length_offset
    enc = self.encode(torch.tensor(ids).unsqueeze(1))
    h = enc[0]
    c = enc[1]
    values = enc[2]
    keys = enc[3]
    mask = enc[4]
    feed = values.new_zeros([1, self.hidden_size])
    out = self.decode_step(torch.tensor([2]), h, c, feed, values, keys, mask)
    lp = out[0]
    h = out[1]
    c = out[2]
    feed = out[3]
    return self.detokenize(self.search(lp, h, c, feed, values, keys, mask, beam, max_len))
)");
  return jm;
}

void export_translation_model(translate::TranslationModel& model, const std::string& path,
                              const translate::TranslateOptions& defaults) {
  save_module(script_translation_model(model, defaults), path);
}

}  // namespace seqtorch::exporting
