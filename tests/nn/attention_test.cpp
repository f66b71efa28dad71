// Attention: shapes; every kind against its equations written out by hand in double; masked
// positions get zero weight; T queries at once equal T single queries; a single query's own
// node against the batched products; gradients by finite differences.
#include <seqtorch/nn/attention.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

// The equations, one batch row and one query at a time.
torch::Tensor expected_weights(AttentionImpl& a, const torch::Tensor& q, const torch::Tensor& memory,
                               const torch::Tensor& mask, int64_t b) {
  const int64_t S = memory.size(0);
  auto scores = torch::empty({S}, torch::kDouble);
  for (int64_t s = 0; s < S; ++s) {
    auto m = memory[s][b];
    double e = 0;
    switch (a.options.kind()) {
      case AttentionKind::additive: {
        auto hidden = torch::tanh(torch::mv(a.query_layer->weight, q) + a.query_layer->bias +
                                  torch::mv(a.key_layer->weight, m));
        e = torch::dot(a.score_layer->weight[0], hidden).item<double>();
        break;
      }
      case AttentionKind::dot: e = torch::dot(q, m).item<double>(); break;
      case AttentionKind::general: e = torch::dot(q, torch::mv(a.key_layer->weight, m)).item<double>(); break;
    }
    scores[s] = mask[b][s].item<bool>() ? e : -INFINITY;
  }
  return torch::softmax(scores, 0);
}

TEST(Attention, EveryKindMatchesItsEquationsAndMasksPadding) {
  torch::manual_seed(3);
  const int64_t B = 3, S = 5, Q = 4, T = 2;
  for (auto kind : {AttentionKind::additive, AttentionKind::dot, AttentionKind::general}) {
    const int64_t M = kind == AttentionKind::dot ? Q : 6;
    Attention a(AttentionOptions(Q, M).kind(kind).attention_size(7));
    a->to(torch::kDouble);
    auto memory = torch::randn({S, B, M}, torch::kDouble);
    auto mask = torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}, {1, 0, 0, 0, 0}}).to(torch::kBool);
    auto prepared = a->prepare(memory, mask);
    auto queries = torch::randn({B, T, Q}, torch::kDouble);
    auto all = a->forward(queries, prepared);
    ASSERT_EQ(all.context.sizes(), (std::vector<int64_t>{B, T, M}));
    ASSERT_EQ(all.weights.sizes(), (std::vector<int64_t>{B, T, S}));
    for (int64_t t = 0; t < T; ++t) {
      auto one = a->forward(queries.select(1, t), prepared);
      EXPECT_TRUE(test::all_close(one.weights, all.weights.select(1, t), 1e-12, "one query vs all"));
      for (int64_t b = 0; b < B; ++b) {
        auto w = expected_weights(*a, queries[b][t], memory, mask, b);
        EXPECT_TRUE(test::all_close(one.weights[b], w, 1e-12, to_string(kind) + " weights"));
        auto context = torch::mv(memory.select(1, b).t(), w);
        EXPECT_TRUE(test::all_close(one.context[b], context, 1e-12, to_string(kind) + " context"));
      }
    }
    EXPECT_EQ(all.weights[2].narrow(1, 1, 4).abs().sum().item<double>(), 0.0);  // masked: zero
  }
  EXPECT_TRUE(test::throws_with([] { Attention(AttentionOptions(4, 6).kind(AttentionKind::dot)); }, {"dot attention", "4", "6"}));
  EXPECT_TRUE(test::throws_with([] { parse_attention("cosine"); }, {"additive, dot or general", "cosine"}));
}

// A single query per row (the decoders' step) on the CPU runs as one node over the batch rows
// (OneStepAttention); the same context, weights and gradients (query, memory, the key layer) as
// the batched products written out here, in float32, dot and general, with padding masked and a
// loss on both outputs; and on 1 and 2 threads.
TEST(Attention, OneStepEqualsTheBatchedProducts) {
  const int64_t B = 9, S = 7, Q = 16;
  const int threads = at::get_num_threads();
  for (int n : {1, 2}) {
    at::set_num_threads(n);
    for (auto kind : {AttentionKind::dot, AttentionKind::general}) {
      SCOPED_TRACE(to_string(kind) + " threads " + std::to_string(n));
      torch::manual_seed(5);
      const int64_t M = kind == AttentionKind::dot ? Q : 12;
      Attention a(AttentionOptions(Q, M).kind(kind));
      auto memory = torch::randn({S, B, M}).requires_grad_();
      auto query = torch::randn({B, Q}).requires_grad_();
      auto mask = torch::ones({B, S}, torch::kBool);
      mask[1].narrow(0, 4, 3).fill_(false);
      mask[5].narrow(0, 1, 6).fill_(false);
      const auto wc = torch::randn({B, M}), ww = torch::randn({B, S});
      auto run = [&](bool fused) {
        a->zero_grad();
        memory.mutable_grad() = torch::Tensor();
        query.mutable_grad() = torch::Tensor();
        const auto m = a->prepare(memory, mask);
        torch::Tensor context, weights;
        if (fused) {
          auto out = a->forward(query, m);
          context = out.context;
          weights = out.weights;
          EXPECT_NE(context.grad_fn()->name().find("OneStepAttention"), std::string::npos)
              << context.grad_fn()->name();
        } else {
          auto scores = torch::bmm(query.unsqueeze(1), m.keys.transpose(1, 2));  // [B, 1, S]
          scores = scores.masked_fill(mask.unsqueeze(1).logical_not(), -INFINITY);
          weights = torch::softmax(scores, -1);
          context = torch::bmm(weights, m.values).squeeze(1);
          weights = weights.squeeze(1);
        }
        ((context * wc).sum() + (weights * ww).sum()).backward();
        std::vector<torch::Tensor> v{context.detach(), weights.detach(), query.grad().clone(),
                                     memory.grad().clone()};
        if (kind == AttentionKind::general) v.push_back(a->key_layer->weight.grad().clone());
        return v;
      };
      const auto fused = run(true), reference = run(false);
      for (size_t i = 0; i < fused.size(); ++i)
        EXPECT_TRUE(test::all_close(fused[i], reference[i], 1e-5, "output " + std::to_string(i)));
      EXPECT_EQ(fused[1][5].narrow(0, 1, 6).abs().sum().item<float>(), 0.0f);  // masked: zero
    }
  }
  at::set_num_threads(threads);
}

TEST(Attention, GradientsMatchFiniteDifferences) {
  torch::manual_seed(4);
  Attention a(AttentionOptions(3, 5));
  a->to(torch::kDouble);
  auto memory = torch::randn({4, 2, 5}, torch::kDouble).requires_grad_();
  auto query = torch::randn({2, 3}, torch::kDouble).requires_grad_();
  auto mask = torch::tensor({{1, 1, 1, 1}, {1, 1, 0, 0}}).to(torch::kBool);
  auto f = [&](const std::vector<torch::Tensor>& in) {
    auto out = a->forward(in[1], a->prepare(in[0], mask));
    return (out.context * out.context).sum() + out.weights.pow(3).sum();
  };
  auto loss = f({memory, query});
  auto grads = torch::autograd::grad({loss}, {memory, query});
  const std::vector<torch::Tensor> inputs{memory, query};
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto x = inputs[i].detach().clone();
    auto numeric = torch::zeros_like(x);
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double eps = 1e-6;
      auto plus = x.clone(), minus = x.clone();
      plus.view(-1)[k] += eps;
      minus.view(-1)[k] -= eps;
      auto in_plus = inputs, in_minus = inputs;
      in_plus[i] = plus;
      in_minus[i] = minus;
      numeric.view(-1)[k] = (f(in_plus) - f(in_minus)).item<double>() / (2 * eps);
    }
    EXPECT_TRUE(test::all_close(grads[i], numeric, 1e-6, "input " + std::to_string(i)));
  }
}

}  // namespace
}  // namespace seqtorch::nn
