#include <seqtorch/translate/translator.h>
#include <seqtorch/metrics/translation.h>
#include <seqtorch/util/json.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace seqtorch::translate {

void check(const TranslateOptions& o) {
  TORCH_CHECK(o.beam >= 1, "beam: expected >= 1, got ", o.beam);
  TORCH_CHECK(o.n_best >= 1 && o.n_best <= o.beam, "n-best: expected in [1, beam = ", o.beam, "], got ", o.n_best);
  TORCH_CHECK(o.length_penalty >= 0, "length-penalty: expected >= 0, got ", o.length_penalty);
  TORCH_CHECK(o.max_length_ratio > 0, "max-length-ratio: expected > 0, got ", o.max_length_ratio);
  TORCH_CHECK(o.max_length_offset >= 0, "max-length-offset: expected >= 0, got ", o.max_length_offset);
  TORCH_CHECK(o.batch_size >= 1, "batch-size: expected >= 1, got ", o.batch_size);
}

decode::StepResult Seq2SeqStepModel::start(const torch::Tensor& source, const torch::Tensor& lengths) {
  torch::NoGradGuard no_grad;
  const auto encoded = model_->encode(source, lengths);
  const auto memory = model_->memory(encoded);
  const auto init = model_->initial_state(encoded);
  decode::StepState state;
  state.add(init.rnn.h, 1);
  state.add(init.rnn.c, 1);
  state.add(init.feed, 0);
  state.add(memory.values, 0);
  state.add(memory.keys, 0);
  state.add(memory.mask, 0);
  const auto bos = torch::full({source.size(1)}, data::TokenVocabulary::bos, source.options());
  return step(bos, state);
}

decode::StepResult Seq2SeqStepModel::step(const torch::Tensor& tokens, const decode::StepState& state) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(state.tensors.size() == 6, "translation step: expected the state of start(), got ",
              state.tensors.size(), " tensors");
  const auto& t = state.tensors;
  nn::DecoderState s{{t[0], t[1]}, t[2]};
  nn::AttentionMemory memory{t[3], t[4], t[5]};
  auto out = model_->step(tokens, s, memory);
  decode::StepResult r;
  r.log_probs = torch::log_softmax(out.logits, -1);
  r.state.add(out.state.rnn.h, 1);
  r.state.add(out.state.rnn.c, 1);
  r.state.add(out.state.feed, 0);
  r.state.add(t[3], 0);
  r.state.add(t[4], 0);
  r.state.add(t[5], 0);
  r.attention = out.attention;
  return r;
}

std::vector<Translation> translate(TranslationModel& model, const std::vector<std::string>& sentences,
                                   const TranslateOptions& o, torch::Device device) {
  check(o);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  model->to(device);
  std::vector<std::vector<int64_t>> ids;
  for (const auto& s : sentences) ids.push_back(model->encode_source(s));
  // Longest first, in batches of similar lengths; results go back to the input order.
  std::vector<int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[a].size() > ids[b].size(); });
  std::vector<Translation> out(sentences.size());
  Seq2SeqStepModel steps(model->seq2seq);
  decode::SearchOptions search;
  search.beam = o.beam;
  search.n_best = o.n_best;
  search.eos = data::TokenVocabulary::eos;
  search.length_penalty = o.length_penalty;
  search.keep_attention = o.keep_attention;
  for (size_t at = 0; at < order.size(); at += o.batch_size) {
    const std::vector<int64_t> idx(order.begin() + at, order.begin() + std::min(order.size(), at + o.batch_size));
    const int64_t B = static_cast<int64_t>(idx.size());
    const int64_t S = static_cast<int64_t>(ids[idx[0]].size());
    auto source = torch::full({S, B}, data::TokenVocabulary::pad, torch::kLong);
    auto lengths = torch::empty({B}, torch::kLong);
    std::vector<int64_t> max_lengths;
    for (int64_t b = 0; b < B; ++b) {
      const auto& s = ids[idx[b]];
      for (size_t t = 0; t < s.size(); ++t) source[t][b] = s[t];
      lengths[b] = static_cast<int64_t>(s.size());
      max_lengths.push_back(static_cast<int64_t>(std::ceil(o.max_length_ratio * static_cast<double>(s.size()))) +
                            o.max_length_offset);
    }
    auto start = steps.start(source.to(device), lengths);
    auto found = decode::search(steps, start, max_lengths, search);
    for (int64_t b = 0; b < B; ++b) {
      Translation& tr = out[idx[b]];
      for (const auto& h : found[b]) {
        tr.texts.push_back(model->decode_target(h.tokens));
        tr.scores.push_back(h.score);
      }
      const auto& best = found[b].at(0);
      for (int64_t id : ids[idx[b]]) tr.source_tokens.push_back(model->source_vocab.token(id));
      for (int64_t id : best.tokens) tr.target_tokens.push_back(model->target_vocab.token(id));
      if (best.attention.defined())
        tr.attention = best.attention.narrow(1, 0, static_cast<int64_t>(ids[idx[b]].size()));
    }
  }
  if (was_training) model->train();
  return out;
}

std::string attention_json(const std::vector<Translation>& translations, size_t count) {
  auto list = [](const std::vector<std::string>& items) {
    std::string s = "[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + util::json_quote(items[i]);
    return s + "]";
  };
  std::ostringstream json;
  json << "[";
  for (size_t i = 0; i < translations.size() && i < count; ++i) {
    const auto& t = translations[i];
    TORCH_CHECK(t.attention.defined(), "attention_json: translation ", i, " kept no attention");
    json << (i ? "," : "") << "{\"source\":" << list(t.source_tokens) << ",\"target\":" << list(t.target_tokens)
         << ",\"weights\":[";
    const auto w = t.attention.to(torch::kCPU, torch::kDouble).contiguous();
    const auto a = w.accessor<double, 2>();
    for (int64_t r = 0; r < w.size(0); ++r) {
      json << (r ? "," : "") << "[";
      for (int64_t s = 0; s < w.size(1); ++s) json << (s ? "," : "") << a[r][s];
      json << "]";
    }
    json << "]}";
  }
  json << "]";
  return json.str();
}

std::map<std::string, double> score_translations(const std::vector<std::string>& hypotheses,
                                                 const std::vector<std::string>& references) {
  TORCH_CHECK(hypotheses.size() == references.size(), "scoring: ", hypotheses.size(), " translations for ",
              references.size(), " references");
  TORCH_CHECK(!hypotheses.empty(), "scoring: no sentences");
  int64_t exact = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) exact += hypotheses[i] == references[i];
  return {{"bleu", metrics::corpus_bleu(hypotheses, {references}).score},
          {"chrf", metrics::corpus_chrf(hypotheses, {references})},
          {"exact_match", static_cast<double>(exact) / hypotheses.size()},
          {"sentences", static_cast<double>(hypotheses.size())}};
}

}  // namespace seqtorch::translate
