#include <seqtorch/nn/attention.h>

#include <torch/torch.h>

#include <limits>

namespace seqtorch::nn {

std::string to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::additive: return "additive";
    case AttentionKind::dot: return "dot";
    case AttentionKind::general: return "general";
  }
  return "?";
}

AttentionKind parse_attention(const std::string& name) {
  if (name == "additive" || name == "bahdanau") return AttentionKind::additive;
  if (name == "dot") return AttentionKind::dot;
  if (name == "general") return AttentionKind::general;
  TORCH_CHECK(false, "attention: expected additive, dot or general, got '", name, "'");
}

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options(o) {
  TORCH_CHECK(o.query_size() >= 1 && o.memory_size() >= 1, "attention: sizes must be >= 1, got query ",
              o.query_size(), ", memory ", o.memory_size());
  const int64_t A = o.attention_size() > 0 ? o.attention_size() : o.query_size();
  switch (o.kind()) {
    case AttentionKind::additive:
      query_layer = register_module("query_layer", torch::nn::Linear(o.query_size(), A));
      key_layer = register_module("key_layer", torch::nn::Linear(torch::nn::LinearOptions(o.memory_size(), A).bias(false)));
      score_layer = register_module("score_layer", torch::nn::Linear(torch::nn::LinearOptions(A, 1).bias(false)));
      break;
    case AttentionKind::general:
      key_layer = register_module("key_layer", torch::nn::Linear(torch::nn::LinearOptions(o.memory_size(), o.query_size()).bias(false)));
      break;
    case AttentionKind::dot:
      TORCH_CHECK(o.query_size() == o.memory_size(), "dot attention: query width ", o.query_size(),
                  " must equal memory width ", o.memory_size(), " (use general or additive)");
      break;
  }
}

AttentionMemory AttentionImpl::prepare(const torch::Tensor& memory, const torch::Tensor& mask) {
  TORCH_CHECK(memory.dim() == 3 && memory.size(2) == options.memory_size(),
              "attention memory: expected [S, B, ", options.memory_size(), "], got ", memory.sizes());
  AttentionMemory m;
  m.values = memory.transpose(0, 1).contiguous();  // [B, S, M]
  m.keys = key_layer ? key_layer->forward(m.values) : m.values;
  if (mask.defined()) {
    TORCH_CHECK(mask.dim() == 2 && mask.size(0) == memory.size(1) && mask.size(1) == memory.size(0),
                "attention mask: expected [B, S] = [", memory.size(1), ", ", memory.size(0), "], got ", mask.sizes());
    m.mask = mask.to(torch::kBool);
  }
  return m;
}

AttentionOutput AttentionImpl::forward(const torch::Tensor& query, const AttentionMemory& m) {
  TORCH_CHECK((query.dim() == 2 || query.dim() == 3) && query.size(-1) == options.query_size(),
              "attention query: expected [B, ", options.query_size(), "] or [B, T, ", options.query_size(),
              "], got ", query.sizes());
  const bool one_step = query.dim() == 2;
  const torch::Tensor q = one_step ? query.unsqueeze(1) : query;  // [B, T, Q]
  torch::Tensor scores;                                           // [B, T, S]
  if (options.kind() == AttentionKind::additive) {
    auto hidden = torch::tanh(query_layer->forward(q).unsqueeze(2) + m.keys.unsqueeze(1));  // [B, T, S, A]
    scores = score_layer->forward(hidden).squeeze(-1);
  } else {
    scores = torch::bmm(q, m.keys.transpose(1, 2));
  }
  if (m.mask.defined())
    scores = scores.masked_fill(m.mask.unsqueeze(1).logical_not(), -std::numeric_limits<double>::infinity());
  auto weights = torch::softmax(scores, -1);
  auto context = torch::bmm(weights, m.values);  // [B, T, M]
  if (one_step) return {context.squeeze(1), weights.squeeze(1)};
  return {context, weights};
}

}  // namespace seqtorch::nn
