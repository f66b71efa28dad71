#include <seqtorch/translate/task.h>
#include <seqtorch/translate/translator.h>

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace seqtorch::translate {

std::vector<EncodedPair> encode_pairs(const TranslationModel& model, const std::vector<data::SentencePair>& pairs) {
  std::vector<EncodedPair> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs) out.push_back({model->encode_source(p.source), model->encode_target(p.target)});
  return out;
}

size_t drop_longer(std::vector<EncodedPair>& pairs, int64_t max_tokens) {
  TORCH_CHECK(max_tokens >= 1, "max-length: expected >= 1, got ", max_tokens);
  const size_t before = pairs.size();
  pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [&](const EncodedPair& p) {
                // the source carries </s> as well
                return static_cast<int64_t>(p.source.size()) > max_tokens + 1 ||
                       static_cast<int64_t>(p.target.size()) > max_tokens;
              }), pairs.end());
  return before - pairs.size();
}

Batch make_batch(const std::vector<EncodedPair>& pairs, const std::vector<int64_t>& indices,
                 torch::Device device) {
  TORCH_CHECK(!indices.empty(), "make_batch: no pairs");
  const int64_t B = static_cast<int64_t>(indices.size());
  int64_t S = 0, T = 0;
  for (int64_t i : indices) {
    S = std::max<int64_t>(S, pairs[i].source.size());
    T = std::max<int64_t>(T, pairs[i].target.size() + 1);
  }
  const int64_t pad = data::TokenVocabulary::pad;
  auto source = torch::full({S, B}, pad, torch::kLong), lengths = torch::empty({B}, torch::kLong);
  auto in = torch::full({T, B}, pad, torch::kLong), out = torch::full({T, B}, pad, torch::kLong);
  auto s = source.accessor<int64_t, 2>(), ti = in.accessor<int64_t, 2>(), to = out.accessor<int64_t, 2>();
  Batch batch;
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = pairs[indices[b]];
    for (size_t t = 0; t < p.source.size(); ++t) s[t][b] = p.source[t];
    lengths[b] = static_cast<int64_t>(p.source.size());
    ti[0][b] = data::TokenVocabulary::bos;
    for (size_t t = 0; t < p.target.size(); ++t) {
      ti[t + 1][b] = p.target[t];
      to[t][b] = p.target[t];
    }
    to[p.target.size()][b] = data::TokenVocabulary::eos;
    batch.target_tokens += static_cast<int64_t>(p.target.size()) + 1;
  }
  batch.source = source.to(device);
  batch.lengths = lengths;
  batch.target_in = in.to(device);
  batch.target_out = out.to(device);
  return batch;
}

TranslationTask::TranslationTask(TranslationModel model, std::vector<EncodedPair> train,
                                 std::vector<EncodedPair> valid, std::vector<data::SentencePair> valid_text,
                                 const TaskOptions& options, torch::Device device)
    : model_(std::move(model)), train_(std::move(train)), valid_(std::move(valid)),
      valid_text_(std::move(valid_text)), options_(options), device_(device) {
  TORCH_CHECK(options.batch_size >= 1, "batch-size: expected >= 1, got ", options.batch_size);
  options.shard.check();
  TORCH_CHECK(options.label_smoothing >= 0 && options.label_smoothing < 1,
              "label-smoothing: expected in [0, 1), got ", options.label_smoothing);
  TORCH_CHECK(options.teacher_forcing >= 0 && options.teacher_forcing <= 1,
              "teacher-forcing: expected in [0, 1], got ", options.teacher_forcing);
  TORCH_CHECK(!train_.empty(), "no training pairs");
  TORCH_CHECK(!valid_.empty(), "no validation pairs");
  TORCH_CHECK(valid_text_.size() == valid_.size(), "validation: ", valid_text_.size(), " texts for ",
              valid_.size(), " encoded pairs");
  order_batches(0);
}

void TranslationTask::order_batches(int64_t epoch) {
  if (epoch == ordered_epoch_) return;
  ordered_epoch_ = epoch;
  // Shuffle, then sort chunks of 50 batches by source length (little padding), cut them into
  // batches and shuffle the batches: a function of (seed, epoch) alone.
  std::mt19937_64 rng(options_.seed * 1000003ull + static_cast<uint64_t>(epoch));
  std::vector<int64_t> order(train_.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t global = static_cast<size_t>(options_.batch_size * options_.shard.world_size);
  const size_t chunk = global * 50;
  for (size_t at = 0; at < order.size(); at += chunk) {
    auto end = order.begin() + std::min(order.size(), at + chunk);
    std::stable_sort(order.begin() + at, end, [&](int64_t a, int64_t b) {
      return train_[a].source.size() < train_[b].source.size();
    });
  }
  batches_.clear();
  for (size_t at = 0; at < order.size(); at += global)
    batches_.emplace_back(order.begin() + at, order.begin() + std::min(order.size(), at + global));
  std::shuffle(batches_.begin(), batches_.end(), rng);
}

void TranslationTask::start_epoch(int64_t epoch) { order_batches(epoch); }

train::StepLoss TranslationTask::train_loss(int64_t epoch, int64_t index) {
  order_batches(epoch);
  const auto& all = batches_.at(index);  // the global batch; this process's part of it:
  const auto part = options_.shard.part(static_cast<int64_t>(all.size()));
  if (part.size() == 0) return {torch::Tensor(), 0};
  const Batch b = make_batch(train_, std::vector<int64_t>(all.begin() + part.begin, all.begin() + part.end), device_);
  auto features = model_->seq2seq->features(b.source, b.lengths, b.target_in, options_.teacher_forcing);
  // Only the real target tokens go through the output layer (padding never reaches the loss).
  const auto target = b.target_out.reshape({-1});
  const auto rows = target.ne(data::TokenVocabulary::pad).nonzero().squeeze(1);
  auto logits = model_->seq2seq->logits(features.reshape({-1, features.size(2)}).index_select(0, rows));
  namespace F = torch::nn::functional;
  auto loss = F::cross_entropy(logits, target.index_select(0, rows),
                               F::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing));
  return {loss, b.target_tokens};
}

std::map<std::string, double> TranslationTask::evaluate() {
  torch::NoGradGuard no_grad;
  // Sums stay on the model's device; the host reads them once at the end.
  torch::Tensor nll_sum = torch::zeros({}, torch::TensorOptions(torch::kDouble).device(device_));
  torch::Tensor correct_sum = torch::zeros({}, torch::TensorOptions(torch::kLong).device(device_));
  int64_t tokens = 0;
  std::vector<int64_t> all(valid_.size());
  std::iota(all.begin(), all.end(), 0);
  std::stable_sort(all.begin(), all.end(), [&](int64_t a, int64_t b) { return valid_[a].source.size() < valid_[b].source.size(); });
  for (size_t at = 0; at < all.size(); at += options_.batch_size) {
    std::vector<int64_t> idx(all.begin() + at, all.begin() + std::min(all.size(), at + options_.batch_size));
    const Batch b = make_batch(valid_, idx, device_);
    auto features = model_->seq2seq->features(b.source, b.lengths, b.target_in, 1.0);
    const auto all = b.target_out.reshape({-1});
    const auto rows = all.ne(data::TokenVocabulary::pad).nonzero().squeeze(1);
    const auto target = all.index_select(0, rows);
    auto logits = model_->seq2seq->logits(features.reshape({-1, features.size(2)}).index_select(0, rows));
    nll_sum += torch::nn::functional::cross_entropy(logits, target,
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)).to(torch::kDouble);
    correct_sum += logits.argmax(-1).eq(target).sum();
    tokens += b.target_tokens;
  }
  const double nll = nll_sum.cpu().item<double>();
  const int64_t correct = correct_sum.cpu().item<int64_t>();
  std::map<std::string, double> m{{"loss", nll / tokens}, {"perplexity", std::exp(nll / tokens)},
                                  {"token_accuracy", static_cast<double>(correct) / tokens}};
  if (options_.decode_sentences > 0) {
    const size_t n = std::min<size_t>(valid_text_.size(), options_.decode_sentences);
    std::vector<std::string> sources, references;
    for (size_t i = 0; i < n; ++i) {
      sources.push_back(valid_text_[i].source);
      references.push_back(valid_text_[i].target);
    }
    TranslateOptions greedy;
    greedy.beam = 1;
    greedy.batch_size = options_.batch_size;
    auto translations = translate(model_, sources, greedy, device_);
    std::vector<std::string> hypotheses;
    for (const auto& t : translations) hypotheses.push_back(t.texts.at(0));
    for (const auto& [k, v] : score_translations(hypotheses, references))
      if (k != "sentences") m[k] = v;
  }
  return m;
}

}  // namespace seqtorch::translate
