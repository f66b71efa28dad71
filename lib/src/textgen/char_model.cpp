#include <seqtorch/textgen/char_model.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/nn/init.h>
#include <seqtorch/train/tbptt.h>

#include <torch/torch.h>

#include <cmath>

namespace seqtorch::textgen {

CharModelImpl::CharModelImpl(const CharModelOptions& o, const data::Vocabulary& vocab) : options(o) {
  TORCH_CHECK(o.vocab_size() == vocab.size(), "char model: vocab_size ", o.vocab_size(),
              " but the vocabulary has ", vocab.size(), " symbols");
  TORCH_CHECK(o.vocab_size() >= 2, "char model: the vocabulary needs at least one symbol");
  TORCH_CHECK(!o.tie_weights() || o.embedding_size() == o.hidden_size(),
              "tie-weights: needs embedding size = hidden size, got ", o.embedding_size(), " and ",
              o.hidden_size());
  embed = register_module("embed", torch::nn::Embedding(o.vocab_size(), o.embedding_size()));
  rnn = register_module("rnn", nn::Recurrent(nn::RecurrentOptions(o.embedding_size(), o.hidden_size())
                                                 .cell(o.cell()).num_layers(o.num_layers())
                                                 .dropout(o.dropout())));
  if (!o.tie_weights()) {
    head_weight = register_parameter("head_weight", torch::empty({o.vocab_size(), o.hidden_size()}));
    nn::init_uniform_(head_weight, o.hidden_size());
  }
  head_bias = register_parameter("head_bias", torch::zeros({o.vocab_size()}));
  symbols = register_buffer("symbols", vocab.table().clone());
  unit = register_buffer("unit", torch::tensor({vocab.unit() == data::Vocabulary::Unit::byte ? 1 : 0}, torch::kLong));
}

data::Vocabulary CharModelImpl::vocabulary() const {
  return data::Vocabulary(symbols, unit.item<int64_t>() == 1 ? data::Vocabulary::Unit::byte
                                                             : data::Vocabulary::Unit::codepoint);
}

CharModelOutput CharModelImpl::forward(const torch::Tensor& tokens, const nn::RecurrentState& state) {
  TORCH_CHECK(tokens.dim() == 2, "char model: tokens: expected [T, B], got ", tokens.sizes());
  auto r = rnn->forward(embed->forward(tokens), state);
  const auto& w = options.tie_weights() ? embed->weight : head_weight;
  return {torch::nn::functional::linear(r.output, w, head_bias), r.state};
}

data::Vocabulary vocabulary_of_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive = train::open_checkpoint(path), model;  // checked, CPU
  torch::Tensor symbols, unit;
  TORCH_CHECK(archive.try_read("model", model) && model.try_read("symbols", symbols, true) &&
                  model.try_read("unit", unit, true),
              "checkpoint ", path, ": has no vocabulary (not a seqtorch-textgen checkpoint?)");
  return data::Vocabulary(symbols, unit.item<int64_t>() == 1 ? data::Vocabulary::Unit::byte
                                                             : data::Vocabulary::Unit::codepoint);
}

decode::StepResult CharStepModel::step(const torch::Tensor& tokens, const decode::StepState& state) {
  return run(tokens.unsqueeze(0), state);
}

decode::StepResult CharStepModel::run(const torch::Tensor& tokens, const decode::StepState& state) {
  torch::NoGradGuard no_grad;
  const auto device = model_->head_bias.device();
  nn::RecurrentState rnn;
  if (!state.tensors.empty()) rnn = {state.tensors.at(0), state.tensors.at(1)};
  auto out = model_->forward(tokens.to(device), rnn);
  decode::StepResult r;
  r.log_probs = torch::log_softmax(out.logits[out.logits.size(0) - 1], -1);
  r.state.add(out.state.h, 1);
  r.state.add(out.state.c, 1);
  return r;
}

TextScore score_text(CharModel& model, const torch::Tensor& ids, int64_t streams, int64_t chunk,
                     torch::Device device) {
  TORCH_CHECK(chunk >= 1, "chunk: expected >= 1, got ", chunk);
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  // Fewer streams for short texts: each stream's first symbols are read without context, so
  // every stream gets at least `chunk` symbols.
  streams = std::max<int64_t>(1, std::min(streams, ids.numel() / chunk));
  const torch::Tensor data = data::batchify(ids, streams).to(device);  // [B, n]
  const int64_t n = data.size(1);
  TORCH_CHECK(n >= 2, "the text is too short to score (", ids.numel(), " symbols)");
  double nll = 0;
  int64_t count = 0;
  nn::RecurrentState state;
  for (int64_t i = 0; i + 1 < n; i += chunk) {
    const int64_t t = std::min(chunk, n - 1 - i);
    auto x = data.narrow(1, i, t).t(), y = data.narrow(1, i + 1, t).t();
    auto out = model->forward(x, state);
    state = train::detach_state(out.state);
    nll += torch::cross_entropy_loss(out.logits.reshape({-1, out.logits.size(2)}), y.reshape({-1}),
                                     {}, at::Reduction::Sum).item<double>();
    count += x.numel();
  }
  if (was_training) model->train();
  return {nll / count / std::log(2.0), std::exp(nll / count), count};
}

}  // namespace seqtorch::textgen
