// The recurrent layer against torch::nn::RNN / LSTM / GRU (values and every gradient), reference
// against fused, variable lengths against running each sequence alone, initialisation, dropout,
// save/load and bad input.
#include <seqtorch/nn/cpu_kernel.h>
#include <seqtorch/nn/recurrent.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <functional>
#include <optional>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

using test::all_close;
using test::parity_tolerance;

constexpr int64_t kT = 5, kB = 3, kI = 4, kH = 5;

struct Case {
  CellKind cell;
  Nonlinearity nonlinearity;
  int64_t layers;
  bool bidirectional, batch_first, with_state;
  uint64_t seed;
  std::string name() const {
    std::ostringstream s;
    s << to_string(cell) << (cell == CellKind::rnn ? "-" + to_string(nonlinearity) : "")
      << " L=" << layers << " D=" << (bidirectional ? 2 : 1) << " batch_first=" << batch_first
      << " state=" << with_state << " seed=" << seed;
    return s.str();
  }
  RecurrentOptions options(Implementation impl) const {
    return RecurrentOptions(kI, kH)
        .cell(cell)
        .nonlinearity(nonlinearity)
        .num_layers(layers)
        .bidirectional(bidirectional)
        .batch_first(batch_first)
        .implementation(impl);
  }
};

// The grid of the issue: 1-3 layers, one or two directions, batch_first on and off, with and
// without initial state, 3 seeds.
std::vector<Case> grid(CellKind cell, Nonlinearity nl = Nonlinearity::tanh) {
  std::vector<Case> cases;
  for (int64_t layers : {1, 2, 3})
    for (bool bidir : {false, true})
      for (bool bf : {false, true})
        for (bool st : {false, true})
          for (uint64_t seed : {1, 2, 3}) cases.push_back({cell, nl, layers, bidir, bf, st, seed});
  return cases;
}

// Result of one forward and backward pass: outputs, final states, gradients by parameter name
// and of the input.
struct Run {
  torch::Tensor output, h, c, input_grad;
  std::map<std::string, torch::Tensor> grads;
};

struct Inputs {
  torch::Tensor x, h0, c0, w_out, w_h, w_c;  // w_*: random weights that make a scalar loss
};

Inputs make_inputs(const Case& k, torch::Dtype dtype, torch::Device device) {
  torch::manual_seed(1000 + k.seed);
  auto opt = torch::TensorOptions().dtype(dtype).device(device);
  const int64_t rows = k.layers * (k.bidirectional ? 2 : 1), D = k.bidirectional ? 2 : 1;
  Inputs in;
  in.x = k.batch_first ? torch::randn({kB, kT, kI}, opt) : torch::randn({kT, kB, kI}, opt);
  if (k.with_state) {
    in.h0 = torch::randn({rows, kB, kH}, opt);
    in.c0 = torch::randn({rows, kB, kH}, opt);
  }
  in.w_out = k.batch_first ? torch::randn({kB, kT, D * kH}, opt) : torch::randn({kT, kB, D * kH}, opt);
  in.w_h = torch::randn({rows, kB, kH}, opt);
  in.w_c = torch::randn({rows, kB, kH}, opt);
  return in;
}

template <class M>
void finish(Run& r, const Inputs& in, torch::Tensor x, M& module) {
  auto loss = (r.output * in.w_out).sum() + (r.h * in.w_h).sum();
  if (r.c.defined()) loss = loss + (r.c * in.w_c).sum();
  loss.backward();
  r.input_grad = x.grad().clone();
  for (const auto& p : module.named_parameters()) r.grads[p.key()] = p.value().grad().clone();
}

Run run_ours(Recurrent& m, const Case& k, const Inputs& in) {
  auto x = in.x.clone().requires_grad_(true);
  RecurrentState s;
  if (k.with_state) {
    s.h = in.h0;
    if (k.cell == CellKind::lstm) s.c = in.c0;
  }
  m->zero_grad();
  auto out = m->forward(x, s);
  Run r{out.output, out.state.h, out.state.c, {}, {}};
  finish(r, in, x, *m);
  return r;
}

Run run_torch(const Case& k, const Inputs& in, const Recurrent& ours) {
  auto x = in.x.clone().requires_grad_(true);
  Run r;
  std::shared_ptr<torch::nn::Module> module;
  if (k.cell == CellKind::lstm) {
    torch::nn::LSTM m(torch::nn::LSTMOptions(kI, kH).num_layers(k.layers)
                          .bidirectional(k.bidirectional).batch_first(k.batch_first));
    m->to(in.x.device(), in.x.scalar_type());
    test::copy_parameters(*ours, *m);
    auto res = k.with_state ? m->forward(x, std::make_tuple(in.h0, in.c0)) : m->forward(x);
    r.output = std::get<0>(res);
    std::tie(r.h, r.c) = std::get<1>(res);
    module = m.ptr();
  } else if (k.cell == CellKind::gru) {
    torch::nn::GRU m(torch::nn::GRUOptions(kI, kH).num_layers(k.layers)
                         .bidirectional(k.bidirectional).batch_first(k.batch_first));
    m->to(in.x.device(), in.x.scalar_type());
    test::copy_parameters(*ours, *m);
    std::tie(r.output, r.h) = k.with_state ? m->forward(x, in.h0) : m->forward(x);
    module = m.ptr();
  } else {
    torch::nn::RNNOptions o(kI, kH);
    o.num_layers(k.layers).bidirectional(k.bidirectional).batch_first(k.batch_first);
    if (k.nonlinearity == Nonlinearity::relu) o.nonlinearity(torch::kReLU);
    torch::nn::RNN m(o);
    m->to(in.x.device(), in.x.scalar_type());
    test::copy_parameters(*ours, *m);
    std::tie(r.output, r.h) = k.with_state ? m->forward(x, in.h0) : m->forward(x);
    module = m.ptr();
  }
  finish(r, in, x, *module);
  return r;
}

::testing::AssertionResult same_run(const Run& a, const Run& b, double tol) {
  const std::tuple<const char*, torch::Tensor, torch::Tensor> parts[] = {
      {"output", a.output, b.output}, {"h_n", a.h, b.h}, {"input grad", a.input_grad, b.input_grad}};
  for (const auto& [what, x, y] : parts) {
    auto r = all_close(x, y, tol, what);
    if (!r) return r;
  }
  if (a.c.defined() || b.c.defined()) {
    auto r = all_close(a.c, b.c, tol, "c_n");
    if (!r) return r;
  }
  if (a.grads.size() != b.grads.size())
    return ::testing::AssertionFailure() << "parameter count " << a.grads.size() << " vs "
                                         << b.grads.size();
  for (const auto& [name, g] : a.grads) {
    auto it = b.grads.find(name);
    if (it == b.grads.end()) return ::testing::AssertionFailure() << "no gradient for " << name;
    auto r = all_close(g, it->second, tol, "grad " + name);
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

// Over the grid: reference == torch.nn, fused == torch.nn, reference == fused, and on the CPU
// kernel == torch.nn and reference == kernel.
void check_parity(CellKind cell, Nonlinearity nl, torch::Dtype dtype, torch::Device device) {
  const double tol = parity_tolerance(dtype, device);
  for (const auto& k : grid(cell, nl)) {
    SCOPED_TRACE(k.name());
    torch::manual_seed(k.seed);
    Recurrent ref(k.options(Implementation::reference));
    ref->to(device, dtype);
    Recurrent fused(k.options(Implementation::fused));
    fused->to(device, dtype);
    test::copy_parameters(*ref, *fused);
    const Inputs in = make_inputs(k, dtype, device);
    const Run r_ref = run_ours(ref, k, in);
    const Run r_fused = run_ours(fused, k, in);
    const Run r_torch = run_torch(k, in, ref);
    EXPECT_TRUE(same_run(r_ref, r_torch, tol)) << "reference vs torch.nn";
    EXPECT_TRUE(same_run(r_fused, r_torch, tol)) << "fused vs torch.nn";
    EXPECT_TRUE(same_run(r_ref, r_fused, tol)) << "reference vs fused";
    if (device.is_cpu()) {
      Recurrent kernel(k.options(Implementation::kernel));
      kernel->to(device, dtype);
      test::copy_parameters(*ref, *kernel);
      const Run r_kernel = run_ours(kernel, k, in);
      EXPECT_TRUE(same_run(r_kernel, r_torch, tol)) << "kernel vs torch.nn";
      EXPECT_TRUE(same_run(r_ref, r_kernel, tol)) << "reference vs kernel";
    }
  }
}

TEST(RecurrentParity, RnnTanhMatchesTorch) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_parity(CellKind::rnn, Nonlinearity::tanh, dtype, torch::kCPU);
}
TEST(RecurrentParity, RnnReluMatchesTorch) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_parity(CellKind::rnn, Nonlinearity::relu, dtype, torch::kCPU);
}
TEST(RecurrentParity, LstmMatchesTorch) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_parity(CellKind::lstm, Nonlinearity::tanh, dtype, torch::kCPU);
}
TEST(RecurrentParity, GruMatchesTorch) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_parity(CellKind::gru, Nonlinearity::tanh, dtype, torch::kCPU);
}

// cuDNN against our reference on the GPU. TF32 off: it would change float32 results by ~1e-3.
TEST(RecurrentParityCuda, AllCellsMatchTorch) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    check_parity(CellKind::rnn, Nonlinearity::tanh, dtype, torch::kCUDA);
    check_parity(CellKind::rnn, Nonlinearity::relu, dtype, torch::kCUDA);
    check_parity(CellKind::lstm, Nonlinearity::tanh, dtype, torch::kCUDA);
    check_parity(CellKind::gru, Nonlinearity::tanh, dtype, torch::kCUDA);
  }
}

// ---- variable lengths -------------------------------------------------------------------

void check_lengths(Implementation impl, torch::Dtype dtype, torch::Device device) {
  const double tol = parity_tolerance(dtype, device);
  const int64_t T = 6, B = 4;
  const auto lengths = torch::tensor({3, 6, 1, 4}, torch::kLong);
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru})
    for (bool bidir : {false, true})
      for (int64_t layers : {1, 2})
        for (bool bf : {false, true}) {
          Case k{cell, Nonlinearity::tanh, layers, bidir, bf, true, 7};
          SCOPED_TRACE(k.name() + " impl=" + to_string(impl));
          torch::manual_seed(5);
          Recurrent m(k.options(impl));
          m->to(device, dtype);
          auto opt = torch::TensorOptions().dtype(dtype).device(device);
          const int64_t rows = layers * m->num_directions();
          auto x_tm = torch::randn({T, B, kI}, opt).requires_grad_(true);  // time-major
          auto h0 = torch::randn({rows, B, kH}, opt);
          auto c0 = torch::randn({rows, B, kH}, opt);
          RecurrentState s0{h0, cell == CellKind::lstm ? c0 : torch::Tensor()};
          auto x = bf ? x_tm.transpose(0, 1) : x_tm;
          auto out = m->forward(x, s0, lengths.to(device));
          auto y = bf ? out.output.transpose(0, 1) : out.output;  // [T, B, D*H]
          // Padded inputs must not reach anything: their gradient is exactly zero.
          (y.pow(2).sum() + out.state.h.pow(2).sum() +
           (out.state.c.defined() ? out.state.c.pow(2).sum() : torch::zeros({}, opt)))
              .backward();
          for (int64_t b = 0; b < B; ++b) {
            const int64_t len = lengths[b].item<int64_t>();
            auto xb = x_tm.detach().narrow(1, b, 1).narrow(0, 0, len);  // [len, 1, I]
            RecurrentState sb{h0.narrow(1, b, 1),
                              cell == CellKind::lstm ? c0.narrow(1, b, 1) : torch::Tensor()};
            auto alone = m->forward(bf ? xb.transpose(0, 1) : xb, sb);
            auto ya = bf ? alone.output.transpose(0, 1) : alone.output;
            EXPECT_TRUE(all_close(y.narrow(1, b, 1).narrow(0, 0, len), ya, tol, "outputs"))
                << "sequence " << b;
            EXPECT_TRUE(all_close(out.state.h.narrow(1, b, 1), alone.state.h, tol, "h_n"))
                << "sequence " << b;
            if (cell == CellKind::lstm) {
              EXPECT_TRUE(all_close(out.state.c.narrow(1, b, 1), alone.state.c, tol, "c_n"))
                  << "sequence " << b;
            }
            if (len < T) {
              EXPECT_EQ(y.narrow(1, b, 1).narrow(0, len, T - len).abs().max().item<double>(), 0.0)
                  << "padded outputs of sequence " << b << " are not zero";
              EXPECT_EQ(x_tm.grad().narrow(1, b, 1).narrow(0, len, T - len).abs().max().item<double>(),
                        0.0)
                  << "padded inputs of sequence " << b << " leak into the result";
            }
          }
        }
}

TEST(RecurrentLengths, ReferenceEqualsEachSequenceAlone) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_lengths(Implementation::reference, dtype, torch::kCPU);
}
TEST(RecurrentLengths, FusedEqualsEachSequenceAlone) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_lengths(Implementation::fused, dtype, torch::kCPU);
}
TEST(RecurrentLengths, KernelEqualsEachSequenceAlone) {
  for (auto dtype : {torch::kDouble, torch::kFloat})
    check_lengths(Implementation::kernel, dtype, torch::kCPU);
}
TEST(RecurrentLengthsCuda, FusedEqualsEachSequenceAlone) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    check_lengths(Implementation::fused, dtype, torch::kCUDA);
    check_lengths(Implementation::reference, dtype, torch::kCUDA);
  }
}

TEST(RecurrentLengths, ReferenceEqualsFusedAndKernelWithLengthsAndGradients) {
  const auto lengths = torch::tensor({2, 5, 5, 1}, torch::kLong);
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru})
    for (Nonlinearity nl : {Nonlinearity::tanh, Nonlinearity::relu}) {
      if (cell != CellKind::rnn && nl == Nonlinearity::relu) continue;
      Case k{cell, nl, 2, true, false, false, 3};
      SCOPED_TRACE(k.name());
      torch::manual_seed(11);
      Recurrent ref(k.options(Implementation::reference)), fused(k.options(Implementation::fused)),
          kernel(k.options(Implementation::kernel));
      for (Recurrent* m : {&ref, &fused, &kernel}) (*m)->to(torch::kDouble);
      test::copy_parameters(*ref, *fused);
      test::copy_parameters(*ref, *kernel);
      auto x = torch::randn({5, 4, kI}, torch::kDouble);
      for (Recurrent* m : {&ref, &fused, &kernel}) {
        auto out = (*m)->forward(x, {}, lengths);
        (out.output.pow(2).sum() + out.state.h.sum()).backward();
      }
      for (const auto& p : ref->named_parameters()) {
        EXPECT_TRUE(all_close(p.value().grad(), fused->named_parameters()[p.key()].grad(), 1e-10,
                              "fused grad " + p.key()));
        EXPECT_TRUE(all_close(p.value().grad(), kernel->named_parameters()[p.key()].grad(), 1e-10,
                              "kernel grad " + p.key()));
      }
    }
}

// ---- the CPU kernel's own cases -------------------------------------------------------------

// Gradients reach the right inputs whichever outputs the loss uses (an unused output gives the
// kernel's backward an undefined gradient), without bias, and with an input that needs none.
TEST(RecurrentKernel, PartialLossesNoBiasAndFrozenInput) {
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru})
    for (bool bias : {true, false})
      for (int which : {0, 1, 2}) {
        SCOPED_TRACE(to_string(cell) + " bias=" + std::to_string(bias) + " loss=" +
                     std::to_string(which));
        torch::manual_seed(21);
        auto make = [&](Implementation impl) {
          Recurrent m(RecurrentOptions(kI, kH).cell(cell).num_layers(2).bias(bias).implementation(impl));
          m->to(torch::kDouble);
          return m;
        };
        Recurrent ref = make(Implementation::reference), kernel = make(Implementation::kernel);
        test::copy_parameters(*ref, *kernel);
        auto x = torch::randn({6, 3, kI}, torch::kDouble);  // needs no gradient
        for (Recurrent* m : {&ref, &kernel}) {
          auto out = (*m)->forward(x);
          torch::Tensor loss = which == 0   ? out.output.sin().sum()
                               : which == 1 ? out.state.h.pow(2).sum()
                               : (cell == CellKind::lstm ? out.state.c : out.state.h).sum();
          loss.backward();
        }
        for (const auto& p : ref->named_parameters())
          EXPECT_TRUE(all_close(p.value().grad(), kernel->named_parameters()[p.key()].grad(),
                                1e-10, "grad " + p.key()));
      }
}

// Gradients of the initial state (every layer and direction) equal the reference's, with and
// without lengths.
TEST(RecurrentKernel, InitialStateGradients) {
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru})
    for (bool with_lengths : {false, true}) {
      SCOPED_TRACE(to_string(cell) + " lengths=" + std::to_string(with_lengths));
      torch::manual_seed(23);
      auto make = [&](Implementation impl) {
        Recurrent m(RecurrentOptions(kI, kH).cell(cell).num_layers(2).bidirectional(true)
                        .implementation(impl));
        m->to(torch::kDouble);
        return m;
      };
      Recurrent ref = make(Implementation::reference), kernel = make(Implementation::kernel);
      test::copy_parameters(*ref, *kernel);
      auto x = torch::randn({5, 3, kI}, torch::kDouble);
      auto h0 = torch::randn({4, 3, kH}, torch::kDouble), c0 = torch::randn({4, 3, kH}, torch::kDouble);
      const auto lengths = with_lengths ? torch::tensor({5, 2, 4}) : torch::Tensor();
      std::vector<torch::Tensor> grads;
      for (Recurrent* m : {&ref, &kernel}) {
        auto h = h0.clone().requires_grad_(true), c = c0.clone().requires_grad_(true);
        const bool lstm = cell == CellKind::lstm;
        auto out = (*m)->forward(x, {h, lstm ? c : torch::Tensor()}, lengths);
        (out.output.pow(2).sum() + out.state.h.sum()).backward();
        grads.push_back(h.grad());
        grads.push_back(lstm ? c.grad() : torch::zeros({1}));
      }
      EXPECT_TRUE(all_close(grads[0], grads[2], 1e-10, "dh0"));
      EXPECT_TRUE(all_close(grads[1], grads[3], 1e-10, "dc0"));
    }
}

// The packed per-step products (seqtorch's tiles, threads owning ranges of hidden units) against
// the same kernel with torch's matrix product per step and against the float64 reference:
// every cell, sizes that do not fill the last panel or tile, one and several threads (teams form
// only when a step is big enough), both directions, padded sequences, initial states, all
// gradients. Where the CPU lacks AVX-512 both runs take the BLAS path (and still must agree).
// `run(module, dtype, product)` returns a run's values as float64; the float32 kernel with packed
// steps must equal the one with BLAS steps and the float64 reference within 2e-5.
template <typename Run>
void expect_packed_equals_blas_and_reference(const Run& run, Recurrent& ref, Recurrent& packed,
                                             Recurrent& blas) {
  const auto r = run(ref, torch::kDouble, cpu_kernel::StepProduct::automatic);
  const auto p = run(packed, torch::kFloat, cpu_kernel::StepProduct::automatic);
  const auto q = run(blas, torch::kFloat, cpu_kernel::StepProduct::blas);
  ASSERT_EQ(r.size(), p.size());
  ASSERT_EQ(q.size(), p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_TRUE(all_close(p[i], q[i], 2e-5, "packed vs blas, value " + std::to_string(i)));
    EXPECT_TRUE(all_close(p[i], r[i], 2e-5, "packed vs float64, value " + std::to_string(i)));
  }
}

TEST(RecurrentKernel, PackedStepsEqualBlasStepsAndReference) {
  struct Size { int64_t T, B, I, H; };
  const int threads = at::get_num_threads();
  for (const Size s : {Size{6, 13, 11, 100}, Size{5, 1, 3, 37}, Size{4, 9, 20, 160}})
    for (auto [cell, nl] : {std::pair{CellKind::rnn, Nonlinearity::tanh},
                            std::pair{CellKind::rnn, Nonlinearity::relu},
                            std::pair{CellKind::lstm, Nonlinearity::tanh},
                            std::pair{CellKind::gru, Nonlinearity::tanh}})
      for (int team : {1, 2}) {
        SCOPED_TRACE(to_string(cell) + "-" + to_string(nl) + " H=" + std::to_string(s.H) +
                     " B=" + std::to_string(s.B) + " threads=" + std::to_string(team));
        at::set_num_threads(team);
        torch::manual_seed(31);
        auto options = [&](Implementation impl) {
          return RecurrentOptions(s.I, s.H).cell(cell).nonlinearity(nl).num_layers(2)
              .bidirectional(true).implementation(impl);
        };
        Recurrent ref(options(Implementation::reference)), packed(options(Implementation::kernel)),
            blas(options(Implementation::kernel));
        ref->to(torch::kDouble);
        test::copy_parameters(*ref, *packed);
        test::copy_parameters(*ref, *blas);
        const auto x = torch::randn({s.T, s.B, s.I});
        const auto h0 = torch::randn({4, s.B, s.H}), c0 = torch::randn({4, s.B, s.H});
        auto lengths = torch::full({s.B}, s.T, torch::kLong);
        for (int64_t b = 1; b < s.B; b += 3) lengths[b] = 1 + b % s.T;
        const bool lstm = cell == CellKind::lstm;
        struct Result { std::vector<torch::Tensor> values; };
        auto run = [&](Recurrent& m, torch::Dtype dtype, cpu_kernel::StepProduct product) {
          cpu_kernel::set_step_product(product);
          auto xi = x.to(dtype).clone().requires_grad_(true);
          auto h = h0.to(dtype).clone().requires_grad_(true);
          auto c = c0.to(dtype).clone().requires_grad_(true);
          auto out = m->forward(xi, {h, lstm ? c : torch::Tensor()}, lengths);
          (out.output.sin().sum() + out.state.h.pow(2).sum() +
           (lstm ? out.state.c.sum() : torch::zeros({}, dtype)))
              .backward();
          cpu_kernel::set_step_product(cpu_kernel::StepProduct::automatic);
          std::vector<torch::Tensor> v{out.output, out.state.h, xi.grad(), h.grad()};
          if (lstm) v.insert(v.end(), {out.state.c, c.grad()});
          for (const auto& p : m->parameters()) v.push_back(p.grad());
          for (auto& t : v) t = t.to(torch::kDouble);
          return v;
        };
        expect_packed_equals_blas_and_reference(run, ref, packed, blas);
      }
  at::set_num_threads(threads);
}

// The packed paths without bias and with an input that needs no gradient (no per-step dx, the
// weight gradients without the bias column, the tiled projection without bias) and with only
// the final state in the loss, over 6 steps (the weight gradients as separate products) and 50
// (650 rows: one product over [x | h | 1] in both layers): equal to the BLAS steps and to the
// float64 reference.
TEST(RecurrentKernel, PackedStepsWithoutBiasOrInputGradientEqualBlasStepsAndReference) {
  if (!cpu_kernel::packs_steps()) GTEST_SKIP() << "no packed path on this CPU (AVX-512 F)";
  for (int64_t T : {6, 50})
    for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru})
      for (bool bias : {false, true})
        for (bool x_grad : {false, true}) {
          SCOPED_TRACE(to_string(cell) + " T=" + std::to_string(T) + " bias=" +
                       std::to_string(bias) + " x_grad=" + std::to_string(x_grad));
          torch::manual_seed(41);
          auto make = [&](Implementation impl) {
            return Recurrent(RecurrentOptions(11, 100).cell(cell).num_layers(2).bias(bias)
                                 .implementation(impl));
          };
          Recurrent ref = make(Implementation::reference), packed = make(Implementation::kernel),
                    blas = make(Implementation::kernel);
          ref->to(torch::kDouble);
          test::copy_parameters(*ref, *packed);
          test::copy_parameters(*ref, *blas);
          const auto x = torch::randn({T, 13, 11});
          auto run = [&](Recurrent& m, torch::Dtype dtype, cpu_kernel::StepProduct product) {
            cpu_kernel::set_step_product(product);
            auto xi = x.to(dtype).clone().requires_grad_(x_grad);
            auto out = m->forward(xi);
            out.state.h.pow(2).sum().backward();
            cpu_kernel::set_step_product(cpu_kernel::StepProduct::automatic);
            std::vector<torch::Tensor> v{out.output, out.state.h};
            if (x_grad) v.push_back(xi.grad());
            for (const auto& p : m->parameters()) v.push_back(p.grad());
            for (auto& t : v) t = t.to(torch::kDouble);
            return v;
          };
          expect_packed_equals_blas_and_reference(run, ref, packed, blas);
        }
}

// A layer run one step at a time (as the attention decoders run theirs) inside a PackingScope:
// the same values and gradients (the input's too) as without the scope (there, calls of one
// step take the BLAS path: equal within float32 rounding), with W_hh packed once for the
// forward steps and once for the backward steps, and W_ih once for the input projections and
// (LSTM, RNN) once for the input gradients; weights changed in place between steps are packed
// again (the results follow the change: a stale packing would differ by far more than the
// tolerance).
TEST(RecurrentKernel, PackingScopeStepByStepEqualsWithoutScope) {
  if (!cpu_kernel::packs_steps()) GTEST_SKIP() << "no packed path on this CPU (AVX-512 F)";
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru}) {
    SCOPED_TRACE(to_string(cell));
    torch::manual_seed(41);
    Recurrent m(RecurrentOptions(24, 96).cell(cell).implementation(Implementation::kernel));
    const auto x = torch::randn({6, 5, 24}).requires_grad_(true);
    const int64_t T = x.size(0);
    auto steps = [&](bool halve_at_3) {
      RecurrentState state;
      std::vector<torch::Tensor> outputs;
      for (int64_t t = 0; t < T; ++t) {
        if (halve_at_3 && t == 3) {
          torch::NoGradGuard no_grad;
          m->named_parameters()["weight_hh_l0"].mul_(0.5);
          m->named_parameters()["weight_ih_l0"].mul_(0.5);
        }
        auto r = m->forward(x[t].unsqueeze(0), state);
        outputs.push_back(r.output);
        state = r.state;
      }
      return torch::cat(outputs);
    };
    auto train = [&](bool scope) {
      m->zero_grad();
      x.mutable_grad() = torch::Tensor();
      std::optional<cpu_kernel::PackingScope> packing;
      if (scope) packing.emplace();
      auto out = steps(false);
      out.sin().sum().backward();
      std::vector<torch::Tensor> v{out.detach(), x.grad().clone()};
      for (const auto& p : m->parameters()) v.push_back(p.grad().clone());
      return v;
    };
    const auto plain = train(false);
    const int64_t before = cpu_kernel::packings();
    const auto scoped = train(true);
    EXPECT_EQ(cpu_kernel::packings() - before, cell == CellKind::gru ? 3 : 4)
        << "W_hh forward and backward, W_ih forward and (LSTM, RNN) input gradient";
    ASSERT_EQ(plain.size(), scoped.size());
    for (size_t i = 0; i < plain.size(); ++i)
      EXPECT_TRUE(all_close(plain[i], scoped[i], 2e-5, "value " + std::to_string(i)));

    torch::NoGradGuard no_grad;
    const auto changed_plain = steps(true);
    m->named_parameters()["weight_hh_l0"].mul_(2.0);  // back (exact: a power of two)
    m->named_parameters()["weight_ih_l0"].mul_(2.0);
    torch::Tensor changed_scoped;
    {
      cpu_kernel::PackingScope packing;
      const int64_t start = cpu_kernel::packings();
      changed_scoped = steps(true);
      EXPECT_EQ(cpu_kernel::packings() - start, 4) << "both packed again after the change";
    }
    m->named_parameters()["weight_hh_l0"].mul_(2.0);
    m->named_parameters()["weight_ih_l0"].mul_(2.0);
    EXPECT_TRUE(all_close(changed_plain, changed_scoped, 2e-5, "after the change"));
    EXPECT_FALSE(all_close(changed_plain, plain[0], 1e-2, "the change matters"));
  }
}

// Inside a PackingScope the weight gradients of a layer run one step at a time are computed once
// per backward pass (one product per layer over all the steps' rows) and equal the per-step
// gradients without the scope: for each cell, with and without biases, two layers, on whichever
// step path this CPU takes; with two passes in one scope (accumulated in one backward, or in two),
// with a loss on some steps only, with autograd::grad for the input alone (nothing kept: the next
// backward is not changed by it) and with one weight frozen.
TEST(RecurrentKernel, PackingScopeDefersWeightGradientsToOneProduct) {
  for (CellKind cell : {CellKind::rnn, CellKind::lstm, CellKind::gru})
    for (bool bias : {true, false}) {
      SCOPED_TRACE(to_string(cell) + (bias ? " bias" : " no bias"));
      torch::manual_seed(43);
      Recurrent m(RecurrentOptions(12, 40).cell(cell).bias(bias).num_layers(2).implementation(
          Implementation::kernel));
      const auto x = torch::randn({6, 5, 12}).requires_grad_(true);
      auto steps = [&](int64_t count) {
        RecurrentState state;
        std::vector<torch::Tensor> outputs;
        for (int64_t t = 0; t < count; ++t) {
          auto r = m->forward(x[t].unsqueeze(0), state);
          outputs.push_back(r.output);
          state = r.state;
        }
        return torch::cat(outputs);
      };
      auto loss = [&](int64_t count) { return steps(count).sin().sum(); };
      // Gradients of the parameters and of x after `body`, which runs forward and backward.
      auto grads_after = [&](bool scope, const std::function<void()>& body) {
        m->zero_grad();
        x.mutable_grad() = torch::Tensor();
        {
          std::optional<cpu_kernel::PackingScope> packing;
          if (scope) packing.emplace();
          body();
        }
        std::vector<torch::Tensor> g{x.grad().clone()};
        for (const auto& p : m->parameters())
          g.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
        return g;
      };
      auto expect_equal = [](const std::vector<torch::Tensor>& a,
                             const std::vector<torch::Tensor>& b, const std::string& what) {
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_EQ(a[i].defined(), b[i].defined()) << what << " " << i;
          if (a[i].defined()) {
            EXPECT_TRUE(all_close(a[i], b[i], 2e-5, what + " " + std::to_string(i)));
          }
        }
      };
      const int64_t T = x.size(0);
      const std::function<void()> one = [&] { loss(T).backward(); };
      const auto plain = grads_after(false, one);
      int64_t before = cpu_kernel::deferred_products();
      expect_equal(grads_after(true, one), plain, "one pass");
      EXPECT_EQ(cpu_kernel::deferred_products() - before, 2) << "one product per layer";

      const std::function<void()> summed = [&] { (loss(T) + loss(T)).backward(); };
      const std::function<void()> twice = [&] {
        loss(T).backward();
        loss(T).backward();
      };
      const auto plain_twice = grads_after(false, twice);
      expect_equal(grads_after(true, summed), plain_twice, "two passes, one backward");
      expect_equal(grads_after(true, twice), plain_twice, "two passes, two backwards");

      const std::function<void()> first_three = [&] { loss(3).backward(); };
      expect_equal(grads_after(true, first_three), grads_after(false, first_three),
                   "a loss on 3 of the steps");

      const std::function<void()> input_then_all = [&] {
        const auto only_x = torch::autograd::grad({loss(T)}, {x});
        const int64_t products = cpu_kernel::deferred_products();
        loss(T).backward();
        EXPECT_EQ(cpu_kernel::deferred_products() - products, 2);
        x.mutable_grad().add_(only_x[0]);
      };
      const std::function<void()> input_then_all_plain = [&] {
        const auto only_x = torch::autograd::grad({loss(T)}, {x});
        loss(T).backward();
        x.mutable_grad().add_(only_x[0]);
      };
      expect_equal(grads_after(true, input_then_all), grads_after(false, input_then_all_plain),
                   "autograd::grad for x, then backward");

      m->named_parameters()["weight_ih_l0"].requires_grad_(false);
      const auto frozen = grads_after(true, one);
      expect_equal(frozen, grads_after(false, one), "weight_ih_l0 frozen");
      m->named_parameters()["weight_ih_l0"].requires_grad_(true);
    }
}

// Without grad mode the kernel builds no graph and gives the same numbers.
TEST(RecurrentKernel, NoGradSameOutputsNoGraph) {
  torch::manual_seed(22);
  Recurrent m(RecurrentOptions(kI, kH).num_layers(2).bidirectional(true).implementation(
      Implementation::kernel));
  auto x = torch::randn({7, 2, kI});
  auto with_graph = m->forward(x);
  EXPECT_TRUE(with_graph.output.requires_grad());
  torch::NoGradGuard no_grad;
  auto without = m->forward(x);
  EXPECT_FALSE(without.output.requires_grad());
  EXPECT_TRUE(torch::equal(with_graph.output, without.output));
  EXPECT_TRUE(torch::equal(with_graph.state.c, without.state.c));
}

// The kernel's backward checks that the weights were not changed in place after the forward.
TEST(RecurrentKernel, InPlaceWeightChangeBeforeBackwardIsCaught) {
  Recurrent m(RecurrentOptions(kI, kH).implementation(Implementation::kernel));
  auto out = m->forward(torch::randn({4, 2, kI}));
  {
    torch::NoGradGuard no_grad;
    m->named_parameters()["weight_hh_l0"].add_(1.0);
  }
  EXPECT_TRUE(test::throws_with([&] { out.output.sum().backward(); }, {"modified by an inplace"}));
}

// ---- options, initialisation, dropout, save/load --------------------------------------

TEST(Recurrent, ShapesAndParameterNames) {
  Recurrent m(RecurrentOptions(7, 9).cell(CellKind::gru).num_layers(2).bidirectional(true));
  auto out = m->forward(torch::randn({11, 3, 7}));
  EXPECT_EQ(out.output.sizes(), torch::IntArrayRef({11, 3, 18}));
  EXPECT_EQ(out.state.h.sizes(), torch::IntArrayRef({4, 3, 9}));
  EXPECT_FALSE(out.state.c.defined());
  auto params = m->named_parameters();
  EXPECT_EQ(params["weight_ih_l0"].sizes(), torch::IntArrayRef({27, 7}));
  EXPECT_EQ(params["weight_ih_l1_reverse"].sizes(), torch::IntArrayRef({27, 18}));
  EXPECT_EQ(params["bias_hh_l1"].sizes(), torch::IntArrayRef({27}));
  EXPECT_EQ(params.size(), 16u);
  Recurrent no_bias(RecurrentOptions(7, 9).bias(false));
  EXPECT_EQ(no_bias->parameters().size(), 2u);
  auto bf = Recurrent(RecurrentOptions(7, 9).batch_first(true))->forward(torch::randn({3, 11, 7}));
  EXPECT_EQ(bf.output.sizes(), torch::IntArrayRef({3, 11, 9}));
  EXPECT_EQ(bf.state.c.sizes(), torch::IntArrayRef({1, 3, 9}));
}

TEST(Recurrent, DefaultInitIsPyTorchUniform) {
  torch::manual_seed(0);
  Recurrent m(RecurrentOptions(30, 64).num_layers(2));
  for (const auto& p : m->parameters()) {
    EXPECT_LE(p.abs().max().item<double>(), 1.0 / 8.0);
    EXPECT_GT(p.abs().max().item<double>(), 0.9 / 8.0);  // spans the range, not a narrower one
  }
}

TEST(Recurrent, OrthogonalInitAndForgetBias) {
  Recurrent m(RecurrentOptions(5, 16).num_layers(2).orthogonal_init(true).forget_bias(1.0));
  for (int64_t l = 0; l < 2; ++l) {
    auto w = m->layer_parameters(l, 0);
    for (auto block : w[1].chunk(4, 0)) {
      EXPECT_TRUE(all_close(torch::mm(block, block.t()), torch::eye(16), 1e-5, "W W^T"));
    }
    auto forget = w[2].chunk(4, 0)[1] + w[3].chunk(4, 0)[1];
    EXPECT_TRUE(all_close(forget, torch::ones({16}), 1e-7, "forget bias"));
    EXPECT_GT(w[2].chunk(4, 0)[0].abs().max().item<double>(), 0.0);  // other gates untouched
  }
  EXPECT_TRUE(test::throws_with(
      [] { Recurrent(RecurrentOptions(5, 16).cell(CellKind::gru).forget_bias(1.0)); },
      {"forget_bias", "gru"}));
}

TEST(Recurrent, DropoutOnlyBetweenLayersAndOnlyInTraining) {
  torch::manual_seed(3);
  auto x = torch::randn({6, 2, kI});
  for (auto impl : {Implementation::reference, Implementation::fused, Implementation::kernel}) {
    Recurrent m(RecurrentOptions(kI, kH).num_layers(2).dropout(0.5).implementation(impl));
    m->eval();
    auto a = m->forward(x).output, b = m->forward(x).output;
    EXPECT_TRUE(torch::equal(a, b)) << "eval mode must be deterministic";
    m->train();
    auto c = m->forward(x).output;
    EXPECT_FALSE(torch::allclose(a, c)) << "training mode must drop units between layers";
    Recurrent one(RecurrentOptions(kI, kH).num_layers(1).dropout(0.5).implementation(impl));
    one->train();
    EXPECT_TRUE(torch::equal(one->forward(x).output, one->forward(x).output))
        << "no dropout after the last layer";
  }
}

TEST(Recurrent, SaveLoadGivesIdenticalOutputs) {
  test::TempDir dir;
  const auto path = dir.file("rnn.pt");
  torch::manual_seed(4);
  Recurrent a(RecurrentOptions(kI, kH).cell(CellKind::lstm).num_layers(2).bidirectional(true));
  torch::save(a, path);
  torch::manual_seed(99);
  Recurrent b(RecurrentOptions(kI, kH).cell(CellKind::lstm).num_layers(2).bidirectional(true));
  auto x = torch::randn({7, 3, kI});
  EXPECT_FALSE(torch::equal(a->forward(x).output, b->forward(x).output));
  torch::load(b, path);
  auto ya = a->forward(x), yb = b->forward(x);
  EXPECT_TRUE(torch::equal(ya.output, yb.output));
  EXPECT_TRUE(torch::equal(ya.state.h, yb.state.h));
  EXPECT_TRUE(torch::equal(ya.state.c, yb.state.c));
}

// On CUDA the parameters become views of one cuDNN weight buffer (as torch.nn's
// flatten_parameters makes them), and again after anything gives them new storage: moving to
// the CPU and back, loading saved weights. Results are the same each time.
TEST(RecurrentCuda, WeightsShareOneCudnnBufferAfterMovesAndLoads) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  test::TempDir dir;
  const torch::Device cuda(torch::kCUDA, 0);
  torch::manual_seed(4);
  Recurrent m(RecurrentOptions(kI, kH).cell(CellKind::lstm).num_layers(2).bidirectional(true));
  torch::save(m, dir.file("rnn.pt"));
  m->to(cuda);
  auto x = torch::randn({7, 3, kI}, cuda);
  auto one_buffer = [&] {
    auto ps = m->parameters();
    for (const auto& p : ps)
      if (!p.is_alias_of(ps[0])) return false;
    return true;
  };
  EXPECT_FALSE(one_buffer()) << "separate tensors before the first CUDA forward";
  auto first = m->forward(x);
  EXPECT_TRUE(one_buffer());
  first.output.pow(2).sum().backward();
  for (const auto& p : m->named_parameters()) EXPECT_TRUE(p.value().grad().defined()) << p.key();
  m->to(torch::kCPU);
  EXPECT_TRUE(all_close(m->forward(x.cpu()).output, first.output, 1e-4, "on the CPU"));
  m->to(cuda);
  EXPECT_TRUE(all_close(m->forward(x).output, first.output, 1e-6, "back on CUDA"));
  EXPECT_TRUE(one_buffer());
  torch::load(m, dir.file("rnn.pt"), cuda);  // the same weights, in new storage
  EXPECT_TRUE(all_close(m->forward(x).output, first.output, 1e-6, "after loading"));
  EXPECT_TRUE(one_buffer());
}

TEST(Recurrent, AutomaticResolvesToKernelOnCpuFusedElsewhere) {
  Recurrent m(RecurrentOptions(kI, kH));
  EXPECT_EQ(m->resolved_implementation(torch::kCPU), Implementation::kernel);
  m->to(torch::kDouble);
  EXPECT_EQ(m->resolved_implementation(torch::kCPU), Implementation::kernel);
  EXPECT_EQ(m->resolved_implementation(torch::Device(torch::kCUDA, 0)), Implementation::fused);
  m->to(torch::kBFloat16);
  EXPECT_EQ(m->resolved_implementation(torch::kCPU), Implementation::fused);
  Recurrent k(RecurrentOptions(kI, kH).implementation(Implementation::kernel));
  k->to(torch::kBFloat16);
  EXPECT_TRUE(test::throws_with([&] { k->forward(torch::randn({3, 2, kI}, torch::kBFloat16)); },
                                {"kernel", "float32/float64", "BFloat16"}));
  EXPECT_EQ(parse_implementation("kernel"), Implementation::kernel);
  EXPECT_EQ(parse_implementation("reference"), Implementation::reference);
  EXPECT_TRUE(test::throws_with([] { parse_implementation("fast"); }, {"implementation", "fast"}));
}

TEST(Recurrent, FusedRecordsNoStepsReferenceDoes) {
  auto x = torch::randn({4, 2, kI});
  EXPECT_TRUE(Recurrent(RecurrentOptions(kI, kH).implementation(Implementation::fused))
                  ->forward(x).steps.empty());
  EXPECT_EQ(Recurrent(RecurrentOptions(kI, kH).implementation(Implementation::reference))
                ->forward(x).steps.size(), 4u);
}

// ---- bad input ---------------------------------------------------------------------------

// run_layer called directly with an input of another dtype than the weights: an error naming
// both, not a read of the input's memory as float32.
TEST(RecurrentErrors, KernelLayerRefusesInputOfAnotherDtype) {
  const auto w_ih = torch::randn({4 * kH, kI}), w_hh = torch::randn({4 * kH, kH});
  const auto h0 = torch::zeros({kB, kH}), c0 = torch::zeros({kB, kH});
  EXPECT_TRUE(test::throws_with(
      [&] {
        cpu_kernel::run_layer({}, torch::randn({40, kB, kI}, torch::kDouble), h0, c0, w_ih, w_hh,
                              torch::Tensor(), torch::Tensor(), torch::Tensor());
      },
      {"cpu kernel", "Float", "Double"}));
}

TEST(RecurrentErrors, NameExpectedAndActual) {
  for (auto impl : {Implementation::reference, Implementation::fused, Implementation::kernel}) {
    Recurrent m(RecurrentOptions(kI, kH).num_layers(2).implementation(impl));
    auto x = torch::randn({5, 3, kI});
    EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({5, 3, 7})); },
                                  {"input width", "expected 4", "got 7"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({5, kI})); },
                                  {"input rank", "expected 3", "got 2"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(x, {}, torch::tensor({3, 0, 2})); },
                                  {"lengths", ">= 1", "got 0"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(x, {}, torch::tensor({3, 6, 2})); },
                                  {"lengths", "<= T = 5", "got 6"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(x, {}, torch::tensor({3, 2})); },
                                  {"lengths shape", "[3]", "[2]"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(x, {}, torch::tensor({3.0, 2.0, 1.0})); },
                                  {"lengths dtype", "integers"}));
    EXPECT_TRUE(test::throws_with(
        [&] { m->forward(x, {torch::zeros({1, 3, kH}), torch::zeros({2, 3, kH})}); },
        {"initial state h shape", "[2, 3, 5]", "[1, 3, 5]"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(x, {torch::zeros({2, 3, kH}), {}}); },
                                  {"needs both h and c"}));
    EXPECT_TRUE(test::throws_with([&] { m->forward(x.to(torch::kDouble)); },
                                  {"input dtype", "Double", "Float"}));
  }
  Recurrent gru(RecurrentOptions(kI, kH).cell(CellKind::gru));
  EXPECT_TRUE(test::throws_with(
      [&] { gru->forward(torch::randn({5, 3, kI}), {torch::zeros({1, 3, kH}), torch::zeros({1, 3, kH})}); },
      {"no cell state c"}));
  EXPECT_TRUE(test::throws_with([] { Recurrent(RecurrentOptions(kI, 0)); },
                                {"hidden_size", "expected > 0", "got 0"}));
  EXPECT_TRUE(test::throws_with([] { Recurrent(RecurrentOptions(kI, kH).dropout(1.5)); },
                                {"dropout", "[0, 1)", "1.5"}));
}

TEST(RecurrentErrorsCuda, TensorsOnDifferentDevices) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Recurrent m(RecurrentOptions(kI, kH));
  m->to(torch::kCUDA);
  auto x = torch::randn({5, 3, kI});
  EXPECT_TRUE(test::throws_with([&] { m->forward(x); }, {"input on cpu", "parameters on cuda"}));
  EXPECT_TRUE(test::throws_with(
      [&] { m->forward(x.cuda(), {torch::zeros({1, 3, kH}), torch::zeros({1, 3, kH}).cuda()}); },
      {"initial state h on cpu", "input on cuda"}));
}

TEST(RecurrentErrors, StateOnDifferentDeviceThanInput) {
  // Without a GPU, a meta-device state stands in for "another device".
  Recurrent m(RecurrentOptions(kI, kH).cell(CellKind::gru));
  auto x = torch::randn({5, 3, kI});
  auto h = torch::zeros({1, 3, kH}, torch::TensorOptions().device(torch::kMeta));
  EXPECT_TRUE(test::throws_with([&] { m->forward(x, {h, {}}); },
                                {"initial state h on meta", "input on cpu"}));
}

}  // namespace
}  // namespace seqtorch::nn
