// Truncated BPTT: state values continue across chunks, gradients stop at the window start.
#include <seqtorch/train/tbptt.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::train {
namespace {

TEST(Tbptt, ChunkedStateContinuesAndGradientsStopAtChunkBoundaries) {
  torch::manual_seed(1);
  nn::Recurrent rnn(nn::RecurrentOptions(2, 4).cell(nn::CellKind::lstm));
  rnn->to(torch::kDouble);
  const int64_t T = 12, k = 4;
  auto x = torch::randn({T, 3, 2}, torch::kDouble).requires_grad_(true);
  auto full = rnn->forward(x.detach()).output;
  std::vector<torch::Tensor> chunk_outputs;
  auto forward = [&](const torch::Tensor& xc, const nn::RecurrentState& s) {
    auto out = rnn->forward(xc, s);
    return std::make_pair(out.output, out.state);
  };
  int calls = 0;
  auto loss = [&](const torch::Tensor& out, int64_t first) {
    EXPECT_EQ(first, calls * k);
    chunk_outputs.push_back(out.detach());
    return out.pow(2).sum();
  };
  auto after = [&](const torch::Tensor&, int64_t end) {
    ++calls;
    EXPECT_EQ(end, calls * k);
    auto g = x.grad();
    EXPECT_GT(g.narrow(0, end - k, k).abs().sum().item<double>(), 0.0);
    if (end > k) {
      EXPECT_EQ(g.narrow(0, 0, end - k).abs().sum().item<double>(), 0.0)
          << "gradient crossed the chunk boundary at " << end - k;
    }
    x.mutable_grad().zero_();
  };
  auto final_state = tbptt(x, {}, k, k, forward, loss, after);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(test::all_close(torch::cat(chunk_outputs), full, 1e-12, "chunked = full run"));
  EXPECT_FALSE(final_state.h.requires_grad());
  EXPECT_TRUE(test::all_close(final_state.h, rnn->forward(x.detach()).state.h, 1e-12, "final state"));
}

TEST(Tbptt, K1K2BackpropagatesK2StepsForTheLastK1) {
  torch::manual_seed(2);
  nn::Recurrent rnn(nn::RecurrentOptions(2, 4).cell(nn::CellKind::gru));
  rnn->to(torch::kDouble);
  const int64_t T = 11, k1 = 2, k2 = 5;
  auto x = torch::randn({T, 1, 2}, torch::kDouble).requires_grad_(true);
  auto full = rnn->forward(x.detach()).output;
  std::vector<int64_t> ends;
  torch::Tensor outputs_seen = torch::zeros_like(full);
  auto forward = [&](const torch::Tensor& xc, const nn::RecurrentState& s) {
    auto out = rnn->forward(xc, s);
    return std::make_pair(out.output, out.state);
  };
  auto loss = [&](const torch::Tensor& out, int64_t first) {
    outputs_seen.narrow(0, first, out.size(0)).copy_(out.detach());
    return out.sum();
  };
  auto after = [&](const torch::Tensor&, int64_t end) {
    ends.push_back(end);
    const int64_t start = std::max<int64_t>(0, end - k2);
    auto g = x.grad().abs().sum({1, 2});  // [T]
    for (int64_t t = 0; t < T; ++t) {
      if (t >= start && t < end) {
        EXPECT_GT(g[t].item<double>(), 0.0) << "end " << end << " t " << t;
      } else {
        EXPECT_EQ(g[t].item<double>(), 0.0) << "end " << end << " t " << t;
      }
    }
    x.mutable_grad().zero_();
  };
  tbptt(x, {}, k1, k2, forward, loss, after);
  EXPECT_EQ(ends, (std::vector<int64_t>{2, 4, 6, 8, 10, 11}));
  EXPECT_TRUE(test::all_close(outputs_seen, full, 1e-12, "every step's output equals the full run"));
  EXPECT_TRUE(test::throws_with([&] { tbptt(x, {}, 3, 2, forward, loss, after); }, {"k2", ">= k1 = 3", "got 2"}));
}

}  // namespace
}  // namespace seqtorch::train
