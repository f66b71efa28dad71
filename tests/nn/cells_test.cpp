// Cells against torch::nn's cells (values and gradients), against central finite differences in
// float64, shapes and bad input.
#include <seqtorch/nn/cells.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

using test::all_close;

constexpr int64_t kCellB = 3, kCellI = 4, kCellH = 5;

// Runs one step of our cell and returns h' and c' (c' undefined but for the LSTM).
CellState run(CellBase& cell, const torch::Tensor& x, const CellState& s) { return cell.step(x, s); }

TEST(Cells, ShapesAndParameters) {
  LSTMCell lstm(CellOptions(kCellI, kCellH));
  auto s = lstm->forward(torch::randn({kCellB, kCellI}));
  EXPECT_EQ(s.h.sizes(), torch::IntArrayRef({kCellB, kCellH}));
  EXPECT_EQ(s.c.sizes(), torch::IntArrayRef({kCellB, kCellH}));
  EXPECT_EQ(lstm->weight_ih.sizes(), torch::IntArrayRef({4 * kCellH, kCellI}));
  GRUCell gru(CellOptions(kCellI, kCellH));
  EXPECT_EQ(gru->forward(torch::randn({kCellB, kCellI})).sizes(), torch::IntArrayRef({kCellB, kCellH}));
  EXPECT_EQ(gru->weight_hh.sizes(), torch::IntArrayRef({3 * kCellH, kCellH}));
  RNNCell rnn(CellOptions(kCellI, kCellH).bias(false));
  EXPECT_EQ(rnn->parameters().size(), 2u);
  EXPECT_EQ(rnn->forward(torch::randn({kCellB, kCellI})).sizes(), torch::IntArrayRef({kCellB, kCellH}));
}

// With weights copied, each cell equals torch::nn's cell in values and in every gradient.
TEST(Cells, MatchTorchCells) {
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = test::parity_tolerance(dtype);
    for (uint64_t seed : {1, 2, 3}) {
      torch::manual_seed(seed);
      auto opt = torch::TensorOptions().dtype(dtype);
      auto x = torch::randn({kCellB, kCellI}, opt), h = torch::randn({kCellB, kCellH}, opt),
           c = torch::randn({kCellB, kCellH}, opt), r1 = torch::randn({kCellB, kCellH}, opt),
           r2 = torch::randn({kCellB, kCellH}, opt);
      auto compare = [&](CellBase& ours, torch::nn::Module& theirs, auto theirs_step) {
        ours.to(dtype);
        theirs.to(dtype);
        test::copy_parameters(ours, theirs);
        auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
        CellState a = run(ours, xa, {h, ours.kind == CellKind::lstm ? c : torch::Tensor()});
        CellState b = theirs_step(xb);
        auto loss = [&](const CellState& s) {
          return (s.h * r1).sum() + (s.c.defined() ? (s.c * r2).sum() : torch::zeros({}, opt));
        };
        loss(a).backward();
        loss(b).backward();
        EXPECT_TRUE(all_close(a.h, b.h, tol, "h'"));
        if (a.c.defined()) {
          EXPECT_TRUE(all_close(a.c, b.c, tol, "c'"));
        }
        EXPECT_TRUE(all_close(xa.grad(), xb.grad(), tol, "input grad"));
        for (const auto& p : ours.named_parameters())
          EXPECT_TRUE(all_close(p.value().grad(), theirs.named_parameters()[p.key()].grad(), tol,
                                "grad " + p.key()));
      };
      {
        SCOPED_TRACE("rnn tanh");
        RNNCell ours(CellOptions(kCellI, kCellH));
        torch::nn::RNNCell theirs(torch::nn::RNNCellOptions(kCellI, kCellH));
        compare(*ours, *theirs, [&](auto xb) { return CellState{theirs->forward(xb, h), {}}; });
      }
      {
        SCOPED_TRACE("rnn relu");
        RNNCell ours(CellOptions(kCellI, kCellH).nonlinearity(Nonlinearity::relu));
        torch::nn::RNNCell theirs(torch::nn::RNNCellOptions(kCellI, kCellH).nonlinearity(torch::kReLU));
        compare(*ours, *theirs, [&](auto xb) { return CellState{theirs->forward(xb, h), {}}; });
      }
      {
        SCOPED_TRACE("lstm");
        LSTMCell ours(CellOptions(kCellI, kCellH));
        torch::nn::LSTMCell theirs(torch::nn::LSTMCellOptions(kCellI, kCellH));
        compare(*ours, *theirs, [&](auto xb) {
          auto [h1, c1] = theirs->forward(xb, std::make_tuple(h, c));
          return CellState{h1, c1};
        });
      }
      {
        SCOPED_TRACE("gru");
        GRUCell ours(CellOptions(kCellI, kCellH));
        torch::nn::GRUCell theirs(torch::nn::GRUCellOptions(kCellI, kCellH));
        compare(*ours, *theirs, [&](auto xb) { return CellState{theirs->forward(xb, h), {}}; });
      }
    }
  }
}

// Every analytic gradient (parameters, input, state) against central differences in float64.
TEST(Cells, GradientsMatchCentralFiniteDifferences) {
  const double eps = 1e-6;
  for (CellKind kind : {CellKind::rnn, CellKind::lstm, CellKind::gru}) {
    for (Nonlinearity nl : {Nonlinearity::tanh, Nonlinearity::relu}) {
      if (kind != CellKind::rnn && nl == Nonlinearity::relu) continue;
      SCOPED_TRACE(to_string(kind) + " " + to_string(nl));
      torch::manual_seed(21);
      CellBase cell(CellOptions(3, 4).nonlinearity(nl), kind);
      cell.to(torch::kDouble);
      auto opt = torch::TensorOptions().dtype(torch::kDouble);
      auto x = torch::randn({2, 3}, opt).requires_grad_(true);
      auto h = torch::randn({2, 4}, opt).requires_grad_(true);
      auto c = torch::randn({2, 4}, opt).requires_grad_(true);
      auto r1 = torch::randn({2, 4}, opt), r2 = torch::randn({2, 4}, opt);
      auto loss = [&] {
        CellState s = cell.step(x, {h, kind == CellKind::lstm ? c : torch::Tensor()});
        auto l = (s.h * r1).sum();
        if (s.c.defined()) l = l + (s.c * r2).sum();
        return l;
      };
      std::vector<std::pair<std::string, torch::Tensor>> wrt{{"x", x}, {"h", h}};
      if (kind == CellKind::lstm) wrt.emplace_back("c", c);
      for (const auto& p : cell.named_parameters()) wrt.emplace_back(p.key(), p.value());
      std::vector<torch::Tensor> tensors;
      for (auto& w : wrt) tensors.push_back(w.second);
      auto grads = torch::autograd::grad({loss()}, tensors);
      torch::NoGradGuard no_grad;
      for (size_t k = 0; k < wrt.size(); ++k) {
        auto flat = wrt[k].second.view(-1);
        auto numeric = torch::zeros_like(flat);
        for (int64_t i = 0; i < flat.numel(); ++i) {
          const double orig = flat[i].item<double>();
          flat[i] = orig + eps;
          const double up = loss().item<double>();
          flat[i] = orig - eps;
          const double down = loss().item<double>();
          flat[i] = orig;
          numeric[i] = (up - down) / (2 * eps);
        }
        EXPECT_TRUE(all_close(grads[k].view(-1), numeric, 1e-7, "d loss / d " + wrt[k].first));
      }
    }
  }
}

TEST(Cells, BadInputNamesExpectedAndActual) {
  LSTMCell lstm(CellOptions(kCellI, kCellH));
  EXPECT_TRUE(test::throws_with([&] { lstm->forward(torch::randn({kCellB, 7})); },
                                {"lstm cell", "input width", "expected 4", "got 7"}));
  EXPECT_TRUE(test::throws_with([&] { lstm->forward(torch::randn({2, kCellB, kCellI})); },
                                {"input rank", "expected 2", "got 3"}));
  EXPECT_TRUE(test::throws_with(
      [&] { lstm->forward(torch::randn({kCellB, kCellI}), {torch::randn({kCellB, 6}), torch::randn({kCellB, kCellH})}); },
      {"h shape", "[3, 5]", "[3, 6]"}));
  EXPECT_TRUE(test::throws_with([] { GRUCell(CellOptions(0, kCellH)); },
                                {"input_size", "expected > 0", "got 0"}));
  EXPECT_TRUE(test::throws_with([] { parse_cell_kind("lstn"); }, {"rnn, lstm or gru", "lstn"}));
}

}  // namespace
}  // namespace seqtorch::nn
