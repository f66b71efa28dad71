// Clipping against hand-computed values; the dLoss/dh(t) diagnostic on the recurrent layer
// against the Elman RNN with the same weights.
#include <seqtorch/nn/elman_rnn.h>
#include <seqtorch/nn/gradients.h>
#include <seqtorch/nn/recurrent.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace seqtorch::nn {
namespace {

using test::all_close;

std::vector<torch::Tensor> with_grads(const std::vector<std::vector<double>>& gs) {
  std::vector<torch::Tensor> ps;
  for (const auto& g : gs) {
    auto p = torch::zeros({static_cast<int64_t>(g.size())}, torch::kDouble).requires_grad_(true);
    p.mutable_grad() = torch::tensor(g, torch::kDouble);
    ps.push_back(p);
  }
  return ps;
}

TEST(ClipGradNorm, ScalesToMaxNormAndReturnsNormBefore) {
  auto ps = with_grads({{3.0, 0.0}, {0.0, 4.0, 12.0}});  // global norm 13
  EXPECT_DOUBLE_EQ(clip_grad_norm_(ps, 6.5), 13.0);
  EXPECT_NEAR(ps[0].grad()[0].item<double>(), 1.5, 1e-6);
  EXPECT_NEAR(ps[1].grad()[2].item<double>(), 6.0, 1e-6);
  auto again = with_grads({{3.0, 4.0}});
  EXPECT_DOUBLE_EQ(clip_grad_norm_(again, 10.0), 5.0);  // below the limit: untouched
  EXPECT_EQ(again[0].grad()[1].item<double>(), 4.0);
  auto bad = with_grads({{1.0, std::numeric_limits<double>::infinity()}});
  EXPECT_FALSE(std::isfinite(clip_grad_norm_(bad, 1.0)));
  EXPECT_EQ(bad[0].grad()[0].item<double>(), 1.0);  // non-finite: left for the caller to skip
}

// float32 CPU gradients take the one-pass path (sums of squares in float64, blocks of 2^16
// spread over threads): the norm of a large and a small gradient against float64 by hand, the
// scaled gradients against the factor, and the same norm with 1 and 2 threads.
TEST(ClipGradNorm, Float32GradientsInOnePassMatchFloat64) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> ps;
  for (int64_t n : {int64_t{300001}, int64_t{7}}) {
    auto p = torch::zeros({n}).requires_grad_(true);
    p.mutable_grad() = torch::randn({n});
    ps.push_back(p);
  }
  const double expected = std::sqrt(ps[0].grad().to(torch::kDouble).pow(2).sum().item<double>() +
                                    ps[1].grad().to(torch::kDouble).pow(2).sum().item<double>());
  const auto before = ps[0].grad().clone();
  const int threads = torch::get_num_threads();
  double norms[2];
  for (int t : {1, 2}) {
    torch::set_num_threads(t);
    norms[t - 1] = clip_grad_norm_(ps, 1e9);  // above the norm: nothing scaled
  }
  torch::set_num_threads(threads);
  EXPECT_NEAR(norms[0], expected, 1e-9 * expected);
  EXPECT_EQ(norms[0], norms[1]);
  EXPECT_TRUE(torch::equal(ps[0].grad(), before));
  EXPECT_NEAR(clip_grad_norm_(ps, 2.0), expected, 1e-9 * expected);
  const float factor = static_cast<float>(2.0 / (expected + 1e-6));
  EXPECT_TRUE(torch::equal(ps[0].grad(), before * factor));
  EXPECT_NEAR(std::sqrt(ps[0].grad().to(torch::kDouble).pow(2).sum().item<double>() +
                        ps[1].grad().to(torch::kDouble).pow(2).sum().item<double>()), 2.0, 1e-5);
}

TEST(ClipGradValue, ClampsEachElement) {
  auto ps = with_grads({{-3.0, 0.5, 2.0}});
  clip_grad_value_(ps, 1.0);
  EXPECT_TRUE(all_close(ps[0].grad(), torch::tensor({-1.0, 0.5, 1.0}, torch::kDouble), 0, "clamped"));
}

// A one-layer tanh RNN (reference implementation) is an Elman RNN with U = W_ih, W = W_hh,
// b = b_ih + b_hh: the diagnostic must report the same dLoss/dh(t) for both.
TEST(HiddenGradientNorms, RecurrentLayerAgreesWithElman) {
  torch::manual_seed(6);
  const int64_t T = 9, B = 2, I = 3, H = 5;
  Recurrent rnn(RecurrentOptions(I, H).cell(CellKind::rnn).implementation(Implementation::reference));
  rnn->to(torch::kDouble);
  ElmanRNN elman(ElmanRNNOptions(I, H, H));
  elman->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    auto w = rnn->layer_parameters(0, 0);
    elman->U.copy_(w[0]);
    elman->W.copy_(w[1]);
    elman->b.copy_(w[2] + w[3]);
    elman->V.copy_(torch::eye(H, torch::kDouble));
    elman->c.zero_();
  }
  auto x = torch::randn({T, B, I}, torch::kDouble);
  auto target = torch::randn({T, B, H}, torch::kDouble);
  auto r = rnn->forward(x);
  auto e = elman->forward(x);
  auto a = hidden_gradient_norms((r.output - target).pow(2).sum(), r.steps);
  auto b = hidden_gradient_norms((e.output - target).pow(2).sum(), e.steps);
  EXPECT_TRUE(all_close(a, b, 1e-10, "norms"));
  EXPECT_GT(a.min().item<double>(), 0.0);
}

TEST(HiddenGradientNorms, UnusedStepsAreZeroAndErrorsAreClear) {
  auto h1 = torch::randn({2, 3}, torch::requires_grad()), h2 = torch::randn({2, 3}, torch::requires_grad());
  auto norms = hidden_gradient_norms((h2 * 2).sum(), {h1, h2});
  EXPECT_EQ(norms[0].item<double>(), 0.0);
  EXPECT_NEAR(norms[1].item<double>(), std::sqrt(6.0 * 4.0), 1e-6);
  EXPECT_TRUE(test::throws_with([&] { hidden_gradient_norms((h2 * 2).sum(), {}); }, {"use `reference`"}));
  EXPECT_TRUE(test::throws_with([&] { hidden_gradient_norms(h2 * 2, {h2}); }, {"expected a scalar"}));
}

}  // namespace
}  // namespace seqtorch::nn
