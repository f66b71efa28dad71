// The Elman RNN against the seed note's equations written out by hand, and a hand-derived BPTT
// against autograd (float64, 1e-10).
#include <seqtorch/nn/elman_rnn.h>
#include <seqtorch/nn/gradients.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

using test::all_close;

constexpr int64_t kElmanT = 7, kElmanB = 3, kElmanI = 4, kElmanH = 6, kElmanO = 5;

TEST(ElmanRNN, ParametersNamedAsInTheNote) {
  ElmanRNN m(ElmanRNNOptions(kElmanI, kElmanH, kElmanO));
  auto p = m->named_parameters();
  EXPECT_EQ(p.size(), 5u);
  EXPECT_EQ(p["U"].sizes(), torch::IntArrayRef({kElmanH, kElmanI}));
  EXPECT_EQ(p["W"].sizes(), torch::IntArrayRef({kElmanH, kElmanH}));
  EXPECT_EQ(p["V"].sizes(), torch::IntArrayRef({kElmanO, kElmanH}));
  EXPECT_EQ(p["b"].sizes(), torch::IntArrayRef({kElmanH}));
  EXPECT_EQ(p["c"].sizes(), torch::IntArrayRef({kElmanO}));
}

// The note's equations, one sequence and one column vector at a time.
TEST(ElmanRNN, EqualsTheNotesEquationsWrittenByHand) {
  for (Nonlinearity nl : {Nonlinearity::tanh, Nonlinearity::relu}) {
    for (bool bf : {false, true}) {
      torch::manual_seed(2);
      ElmanRNN m(ElmanRNNOptions(kElmanI, kElmanH, kElmanO).nonlinearity(nl).batch_first(bf));
      m->to(torch::kDouble);
      auto x = torch::randn({kElmanT, kElmanB, kElmanI}, torch::kDouble), h0 = torch::randn({kElmanB, kElmanH}, torch::kDouble);
      auto out = m->forward(bf ? x.transpose(0, 1).contiguous() : x, h0);
      auto o_all = bf ? out.output.transpose(0, 1) : out.output;
      auto h_all = bf ? out.hidden.transpose(0, 1) : out.hidden;
      torch::NoGradGuard no_grad;
      for (int64_t bi = 0; bi < kElmanB; ++bi) {
        auto h = h0[bi].unsqueeze(1);  // column vector [H, 1]
        for (int64_t t = 0; t < kElmanT; ++t) {
          auto a = m->b.unsqueeze(1) + torch::mm(m->W, h) + torch::mm(m->U, x[t][bi].unsqueeze(1));
          h = nl == Nonlinearity::tanh ? torch::tanh(a) : torch::relu(a);
          auto o = m->c.unsqueeze(1) + torch::mm(m->V, h);
          EXPECT_TRUE(all_close(h_all[t][bi], h.squeeze(1), 1e-12, "h(t)"));
          EXPECT_TRUE(all_close(o_all[t][bi], o.squeeze(1), 1e-12, "o(t)"));
        }
      }
    }
  }
}

// Hand-derived BPTT for L = sum_t sum_b cross_entropy(o(t), y(t)) with tanh:
//   dL/do(t) = softmax(o(t)) - onehot(y(t))
//   dL/dh(t) = V^T dL/do(t) + W^T dL/da(t+1)          (the second term absent at t = T-1)
//   dL/da(t) = dL/dh(t) * (1 - h(t)^2)
//   dL/dV = sum_t dL/do(t) h(t)^T, dL/dc = sum_t dL/do(t)
//   dL/dW = sum_t dL/da(t) h(t-1)^T, dL/dU = sum_t dL/da(t) x(t)^T, dL/db = sum_t dL/da(t)
struct Bptt {
  torch::Tensor dU, dW, dV, db, dc, dh0;
  std::vector<torch::Tensor> dh;  // dL/dh(t), total (through o(t) and all later steps)
};

Bptt hand_bptt(ElmanRNN& m, const torch::Tensor& x, const torch::Tensor& h0, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  const int64_t T = x.size(0);
  std::vector<torch::Tensor> h(T), go(T);
  auto prev = h0;
  for (int64_t t = 0; t < T; ++t) {
    h[t] = torch::tanh(m->b + torch::mm(prev, m->W.t()) + torch::mm(x[t], m->U.t()));
    auto o = m->c + torch::mm(h[t], m->V.t());
    go[t] = torch::softmax(o, 1) - torch::one_hot(y[t], o.size(1)).to(o.scalar_type());
    prev = h[t];
  }
  Bptt g;
  g.dU = torch::zeros_like(m->U); g.dW = torch::zeros_like(m->W); g.dV = torch::zeros_like(m->V);
  g.db = torch::zeros_like(m->b); g.dc = torch::zeros_like(m->c);
  g.dh.resize(T);
  torch::Tensor da_next;
  for (int64_t t = T - 1; t >= 0; --t) {
    auto dh = torch::mm(go[t], m->V);
    if (da_next.defined()) dh = dh + torch::mm(da_next, m->W);
    g.dh[t] = dh;
    auto da = dh * (1 - h[t] * h[t]);
    auto h_prev = t > 0 ? h[t - 1] : h0;
    g.dV += torch::mm(go[t].t(), h[t]);
    g.dc += go[t].sum(0);
    g.dW += torch::mm(da.t(), h_prev);
    g.dU += torch::mm(da.t(), x[t]);
    g.db += da.sum(0);
    da_next = da;
  }
  g.dh0 = torch::mm(da_next, m->W);
  return g;
}

TEST(ElmanRNN, HandDerivedBpttEqualsAutograd) {
  for (uint64_t seed : {1, 2, 3}) {
    torch::manual_seed(seed);
    ElmanRNN m(ElmanRNNOptions(kElmanI, kElmanH, kElmanO));
    m->to(torch::kDouble);
    auto x = torch::randn({kElmanT, kElmanB, kElmanI}, torch::kDouble);
    auto h0 = torch::randn({kElmanB, kElmanH}, torch::kDouble).requires_grad_(true);
    auto y = torch::randint(kElmanO, {kElmanT, kElmanB}, torch::kLong);
    auto out = m->forward(x, h0);
    auto loss = torch::nn::functional::cross_entropy(
        out.output.reshape({-1, kElmanO}), y.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    auto norms = hidden_gradient_norms(loss, out.steps);
    loss.backward();
    Bptt g = hand_bptt(m, x, h0.detach(), y);
    EXPECT_TRUE(all_close(m->U.grad(), g.dU, 1e-10, "dL/dU"));
    EXPECT_TRUE(all_close(m->W.grad(), g.dW, 1e-10, "dL/dW"));
    EXPECT_TRUE(all_close(m->V.grad(), g.dV, 1e-10, "dL/dV"));
    EXPECT_TRUE(all_close(m->b.grad(), g.db, 1e-10, "dL/db"));
    EXPECT_TRUE(all_close(m->c.grad(), g.dc, 1e-10, "dL/dc"));
    EXPECT_TRUE(all_close(h0.grad(), g.dh0, 1e-10, "dL/dh(0)"));
    // The diagnostic reports exactly the total dL/dh(t) of the recursion.
    ASSERT_EQ(norms.size(0), kElmanT);
    for (int64_t t = 0; t < kElmanT; ++t)
      EXPECT_NEAR(norms[t].item<double>(), g.dh[t].norm().item<double>(), 1e-10) << "t=" << t;
  }
}

// §6 of the note, measured: the gradient of a loss at the last step, followed back in time,
// shrinks by about ||W|| times tanh' per step when W is small (vanishing) and grows when W is
// large and the units do not saturate (ReLU with every unit active: exploding).
TEST(ElmanRNN, GradientNormsShowVanishingAndExploding) {
  const int64_t T = 30, H = 16;
  auto run = [&](const torch::Tensor& w, Nonlinearity nl) {
    torch::manual_seed(8);
    ElmanRNN m(ElmanRNNOptions(kElmanI, H, kElmanO).nonlinearity(nl));
    m->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      m->W.copy_(w);
      m->U.abs_();     // with inputs >= 0 and b > 0, every ReLU unit stays active
      m->b.fill_(0.1);
    }
    auto out = m->forward(torch::rand({T, 1, kElmanI}, torch::kDouble));
    return hidden_gradient_norms(out.output[T - 1].sum(), out.steps);  // loss at the last step
  };
  torch::manual_seed(9);
  auto q = std::get<0>(torch::linalg_qr(torch::randn({H, H}, torch::kDouble)));
  auto vanish = run(0.5 * q, Nonlinearity::tanh);  // ||W|| = 0.5
  EXPECT_LT(vanish[0].item<double>(), 1e-8 * vanish[T - 1].item<double>());
  for (int64_t t = 0; t + 1 < T; ++t) EXPECT_LT(vanish[t].item<double>(), vanish[t + 1].item<double>());
  auto explode = run(1.5 * torch::eye(H, torch::kDouble), Nonlinearity::relu);  // dh(t) = 1.5 dh(t+1)
  for (int64_t t = 0; t + 1 < T; ++t)
    EXPECT_NEAR(explode[t].item<double>() / explode[t + 1].item<double>(), 1.5, 1e-9) << "t=" << t;
}

TEST(ElmanRNN, SaveLoadGivesIdenticalOutputs) {
  test::TempDir dir;
  const auto path = dir.file("elman.pt");
  torch::manual_seed(1);
  ElmanRNN a(ElmanRNNOptions(kElmanI, kElmanH, kElmanO));
  torch::save(a, path);
  torch::manual_seed(2);
  ElmanRNN b(ElmanRNNOptions(kElmanI, kElmanH, kElmanO));
  torch::load(b, path);
  auto x = torch::randn({kElmanT, kElmanB, kElmanI});
  EXPECT_TRUE(torch::equal(a->forward(x).output, b->forward(x).output));
}

TEST(ElmanRNN, BadInputNamesExpectedAndActual) {
  ElmanRNN m(ElmanRNNOptions(kElmanI, kElmanH, kElmanO));
  EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({kElmanT, kElmanB, 3})); },
                                {"ElmanRNN", "input width", "expected 4", "got 3"}));
  EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({kElmanT, kElmanI})); },
                                {"input rank", "expected 3", "got 2"}));
  EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({kElmanT, kElmanB, kElmanI}), torch::zeros({2, kElmanH})); },
                                {"h0 shape", "[3, 6]", "[2, 6]"}));
}

}  // namespace
}  // namespace seqtorch::nn
