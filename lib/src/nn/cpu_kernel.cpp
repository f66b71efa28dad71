#include <seqtorch/nn/cpu_kernel.h>

#include "simd_math.h"
#include "step_gemm.h"

#include <torch/torch.h>

#include <ATen/Parallel.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

namespace seqtorch::nn::cpu_kernel {

bool supports(const torch::Tensor& weight) {
  return weight.defined() && weight.device().is_cpu() && weight.layout() == torch::kStrided &&
         (weight.scalar_type() == torch::kFloat || weight.scalar_type() == torch::kDouble);
}

namespace {

using torch::Tensor;
using namespace seqtorch::simd;

// Activations of the forward pass, kept for the backward pass. The states live in one buffer
// of T+1 rows: the state before step t is row before(t), the one after it row after(t); the
// initial state is row 0 (forward direction) or row T (backward direction).
struct Buffers {
  Tensor gates;     // [T, B, G]: LSTM i f g o, GRU r z n (after their nonlinearity); RNN unused
  Tensor states;    // [T+1, B, H]
  Tensor cells;     // LSTM: [T+1, B, H]
  Tensor tanh_c;    // LSTM: tanh(c(t)) [T, B, H]
  Tensor hidden_n;  // GRU: h(t-1) W_hn^T + b_hn [T, B, H]
};

struct Dims {
  int64_t T, B, H, G;
  bool reverse;
  int64_t before(int64_t t) const { return reverse ? t + 1 : t; }
  int64_t after(int64_t t) const { return reverse ? t : t + 1; }
  // Step t of the k-th iteration in processing order.
  int64_t step(int64_t k) const { return reverse ? T - 1 - k : k; }
};

// Rows per parallel chunk: enough elements that a thread's share outweighs its start-up.
int64_t grain_rows(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, width)); }

// Gate math of one row (one sequence) of one step, for n hidden units (H apart from one gate to
// the next). g: the step's input projections, turned into the activations in place; r: the
// recurrent projections.
template <typename S>
SEQTORCH_ALWAYS_INLINE void lstm_forward_row(S* __restrict g, const S* __restrict r,
                                             const S* __restrict cp, S* __restrict cn,
                                             S* __restrict tc, S* __restrict hn, int64_t n,
                                             int64_t H) {
  for (int64_t j = 0; j < n; ++j) {
    const S i = sigmoid(g[j] + r[j]);
    const S f = sigmoid(g[H + j] + r[H + j]);
    const S z = tanh_of(g[2 * H + j] + r[2 * H + j]);
    const S o = sigmoid(g[3 * H + j] + r[3 * H + j]);
    g[j] = i;
    g[H + j] = f;
    g[2 * H + j] = z;
    g[3 * H + j] = o;
    const S c = f * cp[j] + i * z;
    cn[j] = c;
    const S tcj = tanh_of(c);
    tc[j] = tcj;
    hn[j] = o * tcj;
  }
}

template <typename S>
SEQTORCH_ALWAYS_INLINE void gru_forward_row(S* __restrict g, const S* __restrict r,
                                            const S* __restrict hp, S* __restrict nh,
                                            S* __restrict hn, int64_t count, int64_t H) {
  for (int64_t j = 0; j < count; ++j) {
    const S rg = sigmoid(g[j] + r[j]);
    const S z = sigmoid(g[H + j] + r[H + j]);
    const S n = tanh_of(g[2 * H + j] + rg * r[2 * H + j]);
    nh[j] = r[2 * H + j];
    g[j] = rg;
    g[H + j] = z;
    g[2 * H + j] = n;
    hn[j] = n + z * (hp[j] - n);
  }
}

template <typename S>
SEQTORCH_ALWAYS_INLINE void rnn_forward_row(const S* __restrict g, const S* __restrict r,
                                            S* __restrict hn, int64_t n, bool relu) {
  if (relu) {
    for (int64_t j = 0; j < n; ++j) hn[j] = std::max(g[j] + r[j], S(0));
  } else {
    for (int64_t j = 0; j < n; ++j) hn[j] = tanh_of(g[j] + r[j]);
  }
}

// Everything one forward step's gate pass needs: rows b0 ... b1-1, hidden units u0 ... u1-1.
template <typename S>
struct ForwardStep {
  CellKind cell;
  bool relu;
  Dims d;
  int64_t t;
  S* gates;
  const S* rec;  // [B, G]
  S* states;
  S* cells;
  S* tanh_c;
  S* hidden_n;
  const int64_t* len;
  int64_t u0, u1;
};

template <typename S>
SEQTORCH_ALWAYS_INLINE void rows(const ForwardStep<S>& a, int64_t b0, int64_t b1) {
  const Dims& d = a.d;
  const int64_t B = d.B, H = d.H, G = d.G, t = a.t, u0 = a.u0, n = a.u1 - a.u0;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = t * B + b;
    S* g = a.gates + row * G + u0;
    const S* r = a.rec + b * G + u0;
    const S* hp = a.states + (d.before(t) * B + b) * H + u0;
    S* hn = a.states + (d.after(t) * B + b) * H + u0;
    if (a.len != nullptr && t >= a.len[b]) {  // padded step: the state passes through unchanged
      std::memcpy(hn, hp, sizeof(S) * n);
      if (a.cells)
        std::memcpy(a.cells + (d.after(t) * B + b) * H + u0,
                    a.cells + (d.before(t) * B + b) * H + u0, sizeof(S) * n);
      continue;
    }
    switch (a.cell) {
      case CellKind::lstm:
        lstm_forward_row(g, r, a.cells + (d.before(t) * B + b) * H + u0,
                         a.cells + (d.after(t) * B + b) * H + u0, a.tanh_c + row * H + u0, hn,
                         n, H);
        break;
      case CellKind::gru: gru_forward_row(g, r, hp, a.hidden_n + row * H + u0, hn, n, H); break;
      case CellKind::rnn: rnn_forward_row(g, r, hn, n, a.relu); break;
    }
  }
}

// A step's gate pass (forward or backward: `rows` is overloaded on the step) compiled three
// times: for the baseline x86-64 (SSE2), for AVX2 + FMA and for AVX-512 with 16-wide vectors
// (GCC keeps to 256 bits for AVX-512 targets unless told), picked at run time.
// (`always_inline` puts the loops into each variant, vectorised for its target.)
template <typename Step>
void rows_baseline(const Step& a, int64_t b0, int64_t b1) {
  rows(a, b0, b1);
}
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
template <typename Step>
__attribute__((target("avx2,fma"))) void rows_avx2(const Step& a, int64_t b0, int64_t b1) {
  rows(a, b0, b1);
}
template <typename Step>
__attribute__((target("avx512f,avx512vl,avx2,fma,prefer-vector-width=512"))) void rows_avx512(
    const Step& a, int64_t b0, int64_t b1) {
  rows(a, b0, b1);
}
#endif

template <typename Step>
void rows_any(const Step& a, int64_t b0, int64_t b1) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  if (cpu_has_avx512()) return rows_avx512(a, b0, b1);
  if (cpu_has_avx2()) return rows_avx2(a, b0, b1);
#endif
  rows_baseline(a, b0, b1);
}

std::atomic<StepProduct> step_product_setting{StepProduct::automatic};
std::atomic<int64_t> packings_made{0};
std::atomic<int64_t> deferred_products_made{0};

// Runs body(thread, threads) on a team of up to `threads` threads that stays together for a
// whole layer (OpenMP, the runtime torch's own operators use): one barrier between steps instead
// of a fork and a join per step. Without OpenMP, or inside a parallel region, a team of one.
template <typename Body>
void run_team(int64_t threads, const Body& body) {
#ifdef _OPENMP
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast<int>(threads))
    body(static_cast<int64_t>(omp_get_thread_num()), static_cast<int64_t>(omp_get_num_threads()));
    return;
  }
#endif
  body(0, 1);
}

void team_barrier() {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

// Threads for a step of `work` multiply-adds split into `parts`: each thread at least 2^17 of
// them (fewer do not pay for a barrier), at most torch's intra-op thread count.
int64_t team_size(int64_t parts, int64_t work) {
  return std::max<int64_t>(
      1, std::min({static_cast<int64_t>(at::get_num_threads()), parts, work >> 17}));
}

bool packed_steps(const Tensor& w_hh) {
  return w_hh.scalar_type() == torch::kFloat &&
         step_product_setting.load() == StepProduct::automatic && step_gemm::available();
}

// Packed panels of one weight: `ready` (one bool, shared like the panels) says whether `panels`
// already hold the packing. Undefined: the call packs into a buffer of its own.
struct Panels {
  Tensor panels, ready;
  bool is_ready() const { return ready.defined() && ready.data_ptr<bool>()[0]; }
  void set_ready() const {
    if (ready.defined()) ready.data_ptr<bool>()[0] = true;
  }
};

// Packing W_hh costs about what OpenBLAS spends packing it for one step's product, so a call of
// fewer than 4 steps keeps to BLAS, unless a PackingScope holds the packing for later calls.
constexpr int64_t kMinSteps = 4;
// W_ih is packed at every call for a fused dx: as for W_hh, only calls of several steps.
constexpr int64_t kMinFusedSteps = kMinSteps;

bool worth_packing(int64_t T, const Panels& kept) {
  return T >= kMinSteps || kept.panels.defined();
}

int64_t forward_panels_size(int64_t G, int64_t H) {
  const int64_t u = step_gemm::units_per_panel(G / H);
  return (H + u - 1) / u * H * step_gemm::kColumns;
}
int64_t backward_panels_size(int64_t G, int64_t H) {
  return (H + step_gemm::kColumns - 1) / step_gemm::kColumns * G * step_gemm::kColumns;
}

// The packings a PackingScope keeps on this thread for one layer: W_hh's forward and backward
// panels, and W_ih's panels for the step's input projection (x W_ih^T) and input gradient
// (dgates W_ih). One entry per layer (its weights held, so that their addresses cannot be
// reused by other tensors), each packing valid while its weight's version is unchanged.
struct ScopeEntry {
  Tensor w_hh, w_ih;
  int64_t hh_version, ih_version;
  Panels forward, backward, projection, input;
};
thread_local std::vector<ScopeEntry>* scope_entries = nullptr;

struct KeptPanels {
  Panels forward, backward;   // W_hh
  Panels projection, input;   // W_ih
};

int64_t projection_panels_size(int64_t G, int64_t I) {
  return (G + step_gemm::kColumns - 1) / step_gemm::kColumns * I * step_gemm::kColumns;
}

// The kept panels of a layer's weights (undefined outside a scope or off the packed path).
KeptPanels scoped_panels(const Tensor& w_ih, const Tensor& w_hh) {
  if (scope_entries == nullptr || !packed_steps(w_hh)) return {};
  const int64_t G = w_hh.size(0), H = w_hh.size(1), I = w_ih.size(1);
  auto fresh = [&](int64_t n) {
    return Panels{at::empty({n}, w_hh.options().requires_grad(false)), at::zeros({1}, torch::kBool)};
  };
  ScopeEntry* entry = nullptr;
  for (ScopeEntry& e : *scope_entries)
    if (e.w_hh.unsafeGetTensorImpl() == w_hh.unsafeGetTensorImpl()) entry = &e;
  if (entry == nullptr) {
    // A bound on what a scope holds, should a caller pass a new weight tensor at every call.
    constexpr size_t kMaxEntries = 16;
    if (scope_entries->size() == kMaxEntries) scope_entries->erase(scope_entries->begin());
    scope_entries->push_back({w_hh, w_ih, -1, -1, {}, {}, {}, {}});
    entry = &scope_entries->back();
  }
  ScopeEntry& e = *entry;
  if (e.hh_version != w_hh._version() || !e.forward.panels.defined()) {
    e.hh_version = w_hh._version();
    e.forward = fresh(forward_panels_size(G, H));
    e.backward = fresh(backward_panels_size(G, H));
  }
  if (e.w_ih.unsafeGetTensorImpl() != w_ih.unsafeGetTensorImpl() ||
      e.ih_version != w_ih._version() || !e.projection.panels.defined()) {
    e.w_ih = w_ih;
    e.ih_version = w_ih._version();
    e.projection = fresh(projection_panels_size(G, I));
    e.input = fresh(backward_panels_size(G, I));
  }
  return {e.forward, e.backward, e.projection, e.input};
}

// The forward steps with W_hh packed once: each thread owns a range of hidden units (whole
// panels: all gates of those units), computes their recurrent projections for every row in
// tiles, then their gate math; one barrier per step (the next step needs all of h(t)).
void packed_forward_steps(const ForwardStep<float>& a, const Tensor& w_hh, const Tensor& b_hh,
                          const Panels& kept) {
  using namespace step_gemm;
  const Dims& d = a.d;
  const int64_t B = d.B, H = d.H, G = d.G, gates = G / H, u = units_per_panel(gates),
                panels = (H + u - 1) / u;
  const Tensor w = w_hh.contiguous();
  const Tensor bias = b_hh.defined() ? b_hh.contiguous() : Tensor();
  const float* wp = w.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  const Tensor packed = kept.panels.defined() ? kept.panels : at::empty({panels * H * kColumns}, w.options());
  float* pk = packed.data_ptr<float>();
  const bool pack = !kept.is_ready();
  if (pack) ++packings_made;
  // h(t-1) packed as the tiles read it, two buffers: threads write h(t) into one while the
  // others may still read h(t-1) from the other.
  const int64_t blocks = (B + kRows - 1) / kRows;
  Tensor lhs = at::empty({2, blocks * H * kRows}, w.options());
  float* lp[2] = {lhs[0].data_ptr<float>(), lhs[1].data_ptr<float>()};
  float* gh = const_cast<float*>(a.rec);
  run_team(team_size(panels, B * H * G), [&](int64_t thread, int64_t threads) {
    const int64_t p0 = panels * thread / threads, p1 = panels * (thread + 1) / threads;
    if (pack)
      for (int64_t p = p0; p < p1; ++p) pack_forward_panel(pk + p * H * kColumns, wp, gates, H, p);
    ForwardStep<float> mine = a;
    mine.u0 = std::min(H, p0 * u);
    mine.u1 = std::min(H, p1 * u);
    if (d.T > 0)
      pack_rows(lp[0], a.states + d.before(d.step(0)) * B * H, H, B, mine.u0, mine.u1, H);
    team_barrier();
    alignas(64) float out[kRows * kColumns];
    for (int64_t k = 0; k < d.T; ++k) {
      const int64_t t = d.step(k);
      const float* h = lp[k % 2];
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t j0 = p * u, n = std::min(u, H - j0);
        for (int64_t rb = 0; rb < B; rb += kRows) {
          const int64_t m = std::min(kRows, B - rb);
          // The LSTM's 4 gates of 8 units and the RNN's 32 units are stored from the tile's
          // registers; the GRU's 3 x 10 (and its bias) through `out`.
          if (gates == 4 && bp == nullptr) {
            tile_to_gates4(h + rb * H, pk + p * H * kColumns, H, m, n, gh + rb * G + j0, G, H);
            continue;
          }
          if (gates == 1 && bp == nullptr) {
            tile_to(h + rb * H, pk + p * H * kColumns, H, m, n, nullptr, gh + rb * G + j0, G);
            continue;
          }
          tile(h + rb * H, pk + p * H * kColumns, H, m, out);
          for (int64_t r = 0; r < m; ++r)
            for (int64_t q = 0; q < gates; ++q) {
              float* dst = gh + (rb + r) * G + q * H + j0;
              const float* src = out + r * kColumns + q * u;
              if (bp != nullptr) {
                for (int64_t i = 0; i < n; ++i) dst[i] = src[i] + bp[q * H + j0 + i];
              } else {
                for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
              }
            }
        }
      }
      mine.t = t;
      if (mine.u1 > mine.u0) rows_any(mine, 0, B);
      if (k + 1 < d.T)
        pack_rows(lp[(k + 1) % 2], a.states + d.after(t) * B * H, H, B, mine.u0, mine.u1, H);
      team_barrier();
    }
  });
  kept.set_ready();
}

template <typename S>
void forward_steps(const LayerSpec& spec, const Dims& d, Buffers& buf, const Tensor& w_hh,
                   const Tensor& b_hh, const int64_t* len, const Panels& kept) {
  const int64_t B = d.B, G = d.G;
  Tensor gh = at::empty({B, G}, buf.gates.options());
  ForwardStep<S> a{spec.cell,
                   spec.nonlinearity == Nonlinearity::relu,
                   d,
                   0,
                   buf.gates.data_ptr<S>(),
                   gh.data_ptr<S>(),
                   buf.states.data_ptr<S>(),
                   spec.cell == CellKind::lstm ? buf.cells.data_ptr<S>() : nullptr,
                   spec.cell == CellKind::lstm ? buf.tanh_c.data_ptr<S>() : nullptr,
                   spec.cell == CellKind::gru ? buf.hidden_n.data_ptr<S>() : nullptr,
                   len,
                   0,
                   d.H};
  const bool gru_bias = spec.cell == CellKind::gru && b_hh.defined();
  if constexpr (std::is_same_v<S, float>) {
    if (packed_steps(w_hh) && worth_packing(d.T, kept))
      return packed_forward_steps(a, w_hh, gru_bias ? b_hh : Tensor(), kept);
  }
  const Tensor w_hh_t = w_hh.t();
  for (int64_t k = 0; k < d.T; ++k) {
    a.t = d.step(k);
    const Tensor h_prev = buf.states.select(0, d.before(a.t));
    if (gru_bias) {
      at::addmm_out(gh, b_hh, h_prev, w_hh_t);
    } else {
      at::mm_out(gh, h_prev, w_hh_t);
    }
    at::parallel_for(0, B, grain_rows(G),
                     [&](int64_t b0, int64_t b1) { rows_any(a, b0, b1); });
  }
}

// The input projections of all T*B rows, x W_ih^T + bias, in the step tiles: W_ih^T packed into
// panels once, each block of 8 rows of x packed and multiplied with every panel, the bias added
// as the tile is stored (OpenBLAS writes the output twice, the bias and then the sum; with the
// embedding's short inner dimension, 64, it ran at 75-100 GFLOP/s on 2 threads in a separate
// test; in one LSTM layer of W1-1x256, forward and backward, the tiles saved 0-4%). Past
// kMaxProjectionK the panels outgrow L2 and OpenBLAS's blocking wins; below
// kMinProjectionRows (a decoder's one step of a few rows) packing W_ih costs what the product
// does.
constexpr int64_t kMaxProjectionK = 128;
constexpr int64_t kMinProjectionRows = 4 * step_gemm::kRows;

bool tiled_projection(const Tensor& x2, const Tensor& w_ih) {
  return packed_steps(w_ih) && x2.size(1) <= kMaxProjectionK &&
         x2.size(0) >= kMinProjectionRows;
}

Tensor project_tiled(const Tensor& x2, const Tensor& w_ih, const Tensor& bias) {
  using namespace step_gemm;
  const int64_t N = x2.size(0), I = x2.size(1), G = w_ih.size(0);
  const Tensor x = x2.contiguous(), w = w_ih.contiguous();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const int64_t panels = (G + kColumns - 1) / kColumns, blocks = (N + kRows - 1) / kRows;
  // Panel p starts p I 128 bytes in: 64-byte aligned as the tiles' loads need.
  const Tensor packed = at::empty({panels * I * kColumns}, w.options());
  Tensor out = at::empty({N, G}, x.options());
  float* pk = packed.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  at::parallel_for(0, panels, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      pack_row_panel(pk + p * I * kColumns, wp, I, I, p * kColumns,
                     std::min(kColumns, G - p * kColumns));
  });
  at::parallel_for(0, blocks, 16, [&](int64_t b0, int64_t b1) {
    std::vector<float> lhs(static_cast<size_t>(I * kRows));
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r0 = blk * kRows, m = std::min(kRows, N - r0);
      pack_rows(lhs.data(), xp + r0 * I, I, m, 0, I, I);
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t c0 = p * kColumns;
        tile_to(lhs.data(), pk + p * I * kColumns, I, m, std::min(kColumns, G - c0),
                bp != nullptr ? bp + c0 : nullptr, op + r0 * G + c0, G);
      }
    }
  });
  return out;
}

// A decoder step's input projection x W_ih^T + bias with W_ih's panels kept by a PackingScope
// (packed at the first call, `panels` then ready): the few rows of x packed once, each thread
// takes a range of panels (32 output columns, the whole inner dimension: 96 KB for I 768) and
// multiplies all the row blocks with each. OpenBLAS packed the 6 MB of a W5-attn W_ih at every
// step. For calls whose packed rows stay within L2 (kMaxKeptProjection floats).
constexpr int64_t kMaxKeptProjection = 1 << 16;

bool kept_projection(const Tensor& x2, const Panels& panels) {
  return panels.panels.defined() && x2.size(0) * x2.size(1) <= kMaxKeptProjection;
}

Tensor project_kept(const Tensor& x2, const Tensor& w_ih, const Tensor& bias,
                    const Panels& kept) {
  using namespace step_gemm;
  const int64_t N = x2.size(0), I = x2.size(1), G = w_ih.size(0);
  const Tensor x = x2.contiguous(), w = w_ih.contiguous();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const int64_t panels = (G + kColumns - 1) / kColumns, blocks = (N + kRows - 1) / kRows;
  float* pk = kept.panels.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  const Tensor lhs = at::empty({blocks * I * kRows}, x.options());
  float* lp = lhs.data_ptr<float>();
  for (int64_t blk = 0; blk < blocks; ++blk)
    pack_rows(lp + blk * I * kRows, x.data_ptr<float>() + blk * kRows * I, I,
              std::min(kRows, N - blk * kRows), 0, I, I);
  Tensor out = at::empty({N, G}, x.options());
  float* op = out.data_ptr<float>();
  const bool pack = !kept.is_ready();
  if (pack) ++packings_made;
  at::parallel_for(0, panels, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c0 = p * kColumns, n = std::min(kColumns, G - c0);
      float* panel = pk + p * I * kColumns;
      if (pack) pack_row_panel(panel, wp, I, I, c0, n);
      for (int64_t blk = 0; blk < blocks; ++blk)
        tile_to(lp + blk * I * kRows, panel, I, std::min(kRows, N - blk * kRows), n,
                bp != nullptr ? bp + c0 : nullptr, op + blk * kRows * G + c0, G);
    }
  });
  kept.set_ready();
  return out;
}

// The forward pass of one layer and direction. x [T, B, I] contiguous. `projection`: W_ih's
// panels kept by a PackingScope (or undefined).
Buffers forward_pass(const LayerSpec& spec, const Tensor& x, const Tensor& h0, const Tensor& c0,
                     const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                     const Tensor& b_hh, const Tensor& lengths, const Panels& kept,
                     const Panels& projection) {
  const int64_t T = x.size(0), B = x.size(1), H = w_hh.size(1), G = w_hh.size(0);
  const Dims d{T, B, H, G, spec.reverse};
  Buffers buf;
  // All T input projections in one product (the tiles above for a short input, else BLAS). The
  // LSTM and RNN add both biases here; the GRU only b_ih, since its b_hn sits inside the reset
  // gate's product.
  const Tensor x2 = x.view({T * B, x.size(2)});
  if (kept_projection(x2, projection)) {
    const Tensor bias = !b_ih.defined()               ? Tensor()
                        : spec.cell == CellKind::gru ? b_ih
                                                     : b_ih + b_hh;
    buf.gates = project_kept(x2, w_ih, bias, projection).view({T, B, G});
  } else if (tiled_projection(x2, w_ih)) {
    const Tensor bias = !b_ih.defined()               ? Tensor()
                        : spec.cell == CellKind::gru ? b_ih
                                                     : b_ih + b_hh;
    buf.gates = project_tiled(x2, w_ih, bias).view({T, B, G});
  } else if (b_ih.defined()) {
    const Tensor bias = spec.cell == CellKind::gru ? b_ih : b_ih + b_hh;
    buf.gates = at::addmm(bias, x2, w_ih.t()).view({T, B, G});
  } else {
    buf.gates = at::mm(x2, w_ih.t()).view({T, B, G});
  }
  buf.states = at::empty({T + 1, B, H}, x.options());
  buf.states.select(0, d.before(d.step(0))).copy_(h0);
  if (spec.cell == CellKind::lstm) {
    buf.cells = at::empty({T + 1, B, H}, x.options());
    buf.cells.select(0, d.before(d.step(0))).copy_(c0);
    buf.tanh_c = at::empty({T, B, H}, x.options());
  }
  if (spec.cell == CellKind::gru) buf.hidden_n = at::empty({T, B, H}, x.options());
  const int64_t* len = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "seqtorch_recurrent_forward", [&] {
    forward_steps<scalar_t>(spec, d, buf, w_hh, b_hh, len, kept);
  });
  return buf;
}

LayerOutput outputs_of(const LayerSpec& spec, const Buffers& buf, const Tensor& lengths) {
  const int64_t T = buf.states.size(0) - 1, B = buf.states.size(1);
  LayerOutput out;
  out.output = buf.states.narrow(0, spec.reverse ? 0 : 1, T).clone();
  if (lengths.defined()) {
    const int64_t* len = lengths.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      if (len[b] < T) out.output.narrow(0, len[b], T - len[b]).select(1, b).zero_();
  }
  // After the last step in processing order: padded steps carried each sequence's final state.
  const int64_t last = spec.reverse ? 0 : T;
  out.h = buf.states.select(0, last).clone();
  if (spec.cell == CellKind::lstm) out.c = buf.cells.select(0, last).clone();
  return out;
}

// Gate gradients of one real row of one step, for n hidden units (H apart from one gate to the
// next). dh: dLoss/dh(t) (the step's output gradient already added); dn receives the part of
// dLoss/dh(t-1) that does not go through W_hh.
template <typename S>
SEQTORCH_ALWAYS_INLINE void lstm_backward_row(S* __restrict gi, const S* __restrict g,
                                              const S* __restrict cp, const S* __restrict tc,
                                              const S* __restrict dh, S* __restrict dc,
                                              S* __restrict dn, int64_t n, int64_t H) {
  for (int64_t j = 0; j < n; ++j) {
    const S dht = dh[j];
    const S i = g[j], f = g[H + j], z = g[2 * H + j], o = g[3 * H + j];
    const S tcj = tc[j];
    const S dct = dc[j] + dht * o * (S(1) - tcj * tcj);
    gi[j] = dct * z * i * (S(1) - i);
    gi[H + j] = dct * cp[j] * f * (S(1) - f);
    gi[2 * H + j] = dct * i * (S(1) - z * z);
    gi[3 * H + j] = dht * tcj * o * (S(1) - o);
    dc[j] = dct * f;
    dn[j] = S(0);
  }
}

template <typename S>
SEQTORCH_ALWAYS_INLINE void gru_backward_row(S* __restrict gi, S* __restrict gh,
                                             const S* __restrict g, const S* __restrict hp,
                                             const S* __restrict nh, const S* __restrict dh,
                                             S* __restrict dn, int64_t count, int64_t H) {
  for (int64_t j = 0; j < count; ++j) {
    const S dht = dh[j];
    const S r = g[j], z = g[H + j], n = g[2 * H + j];
    const S dnp = dht * (S(1) - z) * (S(1) - n * n);
    const S dz = dht * (hp[j] - n) * z * (S(1) - z);
    const S dr = dnp * nh[j] * r * (S(1) - r);
    gi[j] = dr;
    gi[H + j] = dz;
    gi[2 * H + j] = dnp;
    gh[j] = dr;
    gh[H + j] = dz;
    gh[2 * H + j] = dnp * r;
    dn[j] = dht * z;
  }
}

template <typename S>
SEQTORCH_ALWAYS_INLINE void rnn_backward_row(S* __restrict gi, const S* __restrict h,
                                             const S* __restrict dh, S* __restrict dn, int64_t n,
                                             bool relu) {
  if (relu) {
    for (int64_t j = 0; j < n; ++j) {
      gi[j] = h[j] > S(0) ? dh[j] : S(0);
      dn[j] = S(0);
    }
  } else {
    for (int64_t j = 0; j < n; ++j) {
      gi[j] = dh[j] * (S(1) - h[j] * h[j]);
      dn[j] = S(0);
    }
  }
}

template <typename S>
struct BackwardStep {
  CellKind cell;
  bool relu;
  Dims d;
  int64_t t;
  const S* gates;
  const S* states;
  const S* cells;
  const S* tanh_c;
  const S* hidden_n;
  const S* dy;  // [T, B, H] or null
  S* dh;        // [B, H], dLoss/dh(t) from later steps; the output gradient is added in place
  S* dn;        // [B, H], receives the direct part of dLoss/dh(t-1)
  S* dc;        // [B, H] (LSTM), dLoss/dc(t) -> dLoss/dc(t-1) in place
  S* dgi;
  S* dgh;
  const int64_t* len;
  int64_t u0, u1;  // the hidden units this pass covers
};

template <typename S>
SEQTORCH_ALWAYS_INLINE void rows(const BackwardStep<S>& a, int64_t b0, int64_t b1) {
  const Dims& d = a.d;
  const int64_t B = d.B, H = d.H, G = d.G, t = a.t, u0 = a.u0, n = a.u1 - a.u0;
  const bool gru = a.cell == CellKind::gru;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = t * B + b;
    S* dhb = a.dh + b * H + u0;
    S* dnb = a.dn + b * H + u0;
    S* gi = a.dgi + row * G + u0;
    S* gh = a.dgh + row * G + u0;
    if (a.len != nullptr && t >= a.len[b]) {  // padded: no gate gradient; dh and dc pass through
      for (int64_t q = 0; q < G; q += H) {
        std::fill(gi + q, gi + q + n, S(0));
        if (gru) std::fill(gh + q, gh + q + n, S(0));
      }
      std::memcpy(dnb, dhb, sizeof(S) * n);
      continue;
    }
    if (a.dy) {
      const S* dyb = a.dy + row * H + u0;
      for (int64_t j = 0; j < n; ++j) dhb[j] += dyb[j];
    }
    const S* g = a.gates + row * G + u0;
    switch (a.cell) {
      case CellKind::lstm:
        lstm_backward_row(gi, g, a.cells + (d.before(t) * B + b) * H + u0,
                          a.tanh_c + row * H + u0, dhb, a.dc + b * H + u0, dnb, n, H);
        break;
      case CellKind::gru:
        gru_backward_row(gi, gh, g, a.states + (d.before(t) * B + b) * H + u0,
                         a.hidden_n + row * H + u0, dhb, dnb, n, H);
        break;
      case CellKind::rnn:
        rnn_backward_row(gi, a.states + (d.after(t) * B + b) * H + u0, dhb, dnb, n, a.relu);
        break;
    }
  }
}

// The backward steps with W_hh packed once (as the forward's): each thread owns a range of
// hidden units, computes their gate gradients, and after the barrier (the product needs every
// gate gradient of the step) their part of dLoss/dh(t-1) in tiles. Returns how many products it
// made (each swapped dh and dh_next).
// With `w_ih` defined (LSTM and RNN, whose input and recurrent gate gradients are the same),
// the step's input gradient dx(t) = dgates W_ih too, from the same packed gate gradients, into
// dx [T, B, I]: no GEMM over all T*B rows afterwards, which packed the 26 MB of gate gradients
// of a W1-1x256 step once more.
int64_t packed_backward_steps(const BackwardStep<float>& a, float* dh, float* dh_next,
                              const float* dg_rec, const Tensor& w_hh, bool need_dh0,
                              const Panels& kept, const Tensor& w_ih, float* dx,
                              const Panels& kept_input) {
  using namespace step_gemm;
  const Dims& d = a.d;
  const int64_t B = d.B, H = d.H, G = d.G, panels = (H + kColumns - 1) / kColumns;
  const Tensor w = w_hh.contiguous();
  const float* wp = w.data_ptr<float>();
  const Tensor packed = kept.panels.defined() ? kept.panels : at::empty({panels * G * kColumns}, w.options());
  float* pk = packed.data_ptr<float>();
  const bool pack = !kept.is_ready();
  if (pack) ++packings_made;
  // The step's gate gradients packed as the tiles read them, two buffers (as the forward's).
  const int64_t blocks = (B + kRows - 1) / kRows;
  Tensor lhs = at::empty({2, blocks * G * kRows}, w.options());
  float* lp[2] = {lhs[0].data_ptr<float>(), lhs[1].data_ptr<float>()};
  // W_ih's panels (packed at every call, unless a PackingScope keeps them: only calls of several
  // steps fuse dx outside a scope).
  const bool fuse_dx = w_ih.defined();
  const int64_t I = fuse_dx ? w_ih.size(1) : 0, x_panels = (I + kColumns - 1) / kColumns;
  const Tensor wi = fuse_dx ? w_ih.contiguous() : Tensor();
  const bool kept_x = fuse_dx && kept_input.panels.defined();
  const Tensor x_packed = !fuse_dx ? Tensor()
                          : kept_x ? kept_input.panels
                                   : at::empty({x_panels * G * kColumns}, w.options());
  const bool pack_x = fuse_dx && !(kept_x && kept_input.is_ready());
  if (kept_x && pack_x) ++packings_made;
  float* xpk = fuse_dx ? x_packed.data_ptr<float>() : nullptr;
  const float* wip = fuse_dx ? wi.data_ptr<float>() : nullptr;
  run_team(team_size(panels, B * H * G), [&](int64_t thread, int64_t threads) {
    const int64_t p0 = panels * thread / threads, p1 = panels * (thread + 1) / threads;
    const int64_t x0 = x_panels * thread / threads, x1 = x_panels * (thread + 1) / threads;
    if (pack)
      for (int64_t p = p0; p < p1; ++p)
        pack_backward_panel(pk + p * G * kColumns, wp, G, H, p * kColumns,
                            std::min(H, (p + 1) * kColumns));
    if (pack_x)
      for (int64_t p = x0; p < x1; ++p)
        pack_backward_panel(xpk + p * G * kColumns, wip, G, I, p * kColumns,
                            std::min(I, (p + 1) * kColumns));
    BackwardStep<float> mine = a;
    mine.u0 = std::min(H, p0 * kColumns);
    mine.u1 = std::min(H, p1 * kColumns);
    float* cur = dh;
    float* next = dh_next;
    for (int64_t k = d.T - 1; k >= 0; --k) {
      const int64_t t = d.step(k);
      mine.t = t;
      mine.dh = cur;
      mine.dn = next;
      rows_any(mine, 0, B);
      const bool last = k == 0 && !need_dh0;  // dLoss/dh(0) is not asked for: skip its product
      if (last && !fuse_dx) break;
      const float* dg = dg_rec + t * B * G;
      float* packed_dg = lp[k % 2];
      for (int64_t q = 0; q < G; q += H)
        pack_rows(packed_dg, dg, G, B, q + mine.u0, q + mine.u1, G);
      team_barrier();
      for (int64_t p = x0; p < x1; ++p) {
        const int64_t j0 = p * kColumns;
        for (int64_t rb = 0; rb < B; rb += kRows)
          tile_to(packed_dg + rb * G, xpk + p * G * kColumns, G, std::min(kRows, B - rb),
                  std::min(kColumns, I - j0), nullptr, dx + (t * B + rb) * I + j0, I);
      }
      if (last) break;
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t j0 = p * kColumns, n = std::min(kColumns, H - j0);
        for (int64_t rb = 0; rb < B; rb += kRows) {
          const int64_t m = std::min(kRows, B - rb);
          float* dst = next + rb * H + j0;
          tile_to(packed_dg + rb * G, pk + p * G * kColumns, G, m, n, dst, dst, H);
        }
      }
      std::swap(cur, next);
    }
  });
  kept.set_ready();
  if (kept_x) kept_input.set_ready();
  return d.T == 0 ? 0 : (need_dh0 ? d.T : d.T - 1);
}

// Per step, in reverse processing order: all gate gradients of the step in one pass, then
// dh(t-1) = direct part + dgates W_hh in one GEMM. `dgi` receives the gradients of the input
// projections, `dgh` (GRU only; otherwise the same tensor as dgi) those of the recurrent ones.
// `dx` (when defined) receives dLoss/dx from the packed steps where they can compute it (LSTM
// and RNN, several steps); left undefined otherwise.
template <typename S>
void backward_steps(const LayerSpec& spec, const Dims& d, const Buffers& buf, const Tensor& dout,
                    Tensor& dh, Tensor& dc, Tensor& dgi, Tensor& dgh, const Tensor& w_hh,
                    const int64_t* len, bool need_dh0, const Panels& kept, const Tensor& w_ih,
                    Tensor& dx, const Panels& kept_input) {
  const bool gru = spec.cell == CellKind::gru;
  Tensor dh_next = at::empty_like(dh);
  BackwardStep<S> a{spec.cell,
                    spec.nonlinearity == Nonlinearity::relu,
                    d,
                    0,
                    buf.gates.data_ptr<S>(),
                    buf.states.data_ptr<S>(),
                    spec.cell == CellKind::lstm ? buf.cells.data_ptr<S>() : nullptr,
                    spec.cell == CellKind::lstm ? buf.tanh_c.data_ptr<S>() : nullptr,
                    gru ? buf.hidden_n.data_ptr<S>() : nullptr,
                    dout.defined() ? dout.data_ptr<S>() : nullptr,
                    nullptr,
                    nullptr,
                    dc.defined() ? dc.data_ptr<S>() : nullptr,
                    dgi.data_ptr<S>(),
                    dgh.data_ptr<S>(),
                    len,
                    0,
                    d.H};
  if constexpr (std::is_same_v<S, float>) {
    if (packed_steps(w_hh) && worth_packing(d.T, kept)) {
      const bool fuse_dx = w_ih.defined() && !gru &&
                           (d.T >= kMinFusedSteps || kept_input.panels.defined());
      if (fuse_dx) dx = at::empty({d.T, d.B, w_ih.size(1)}, w_ih.options());
      const int64_t products = packed_backward_steps(
          a, dh.data_ptr<float>(), dh_next.data_ptr<float>(), (gru ? dgh : dgi).data_ptr<float>(),
          w_hh, need_dh0, kept, fuse_dx ? w_ih : Tensor(), fuse_dx ? dx.data_ptr<float>() : nullptr,
          kept_input);
      if (products % 2 == 1) std::swap(dh, dh_next);
      return;
    }
  }
  for (int64_t k = d.T - 1; k >= 0; --k) {
    a.t = d.step(k);
    a.dh = dh.data_ptr<S>();
    a.dn = dh_next.data_ptr<S>();
    at::parallel_for(0, d.B, grain_rows(d.G),
                     [&](int64_t b0, int64_t b1) { rows_any(a, b0, b1); });
    if (k == 0 && !need_dh0) break;  // dLoss/dh(0) is not asked for: skip its GEMM
    dh_next.addmm_((gru ? dgh : dgi).select(0, a.t), w_hh);
    std::swap(dh, dh_next);
  }
}

// The weight and bias gradients from gate gradients dgi (input side) and dgh (recurrent side; the
// same tensor for the LSTM and the RNN) [N, G], inputs x [N, I] and previous states h [N, H];
// `needed`: w_ih, w_hh, b_ih, b_hh (the biases only where the layer has them).
struct WeightGrads {
  Tensor w_ih, w_hh, b_ih, b_hh;
};
WeightGrads weight_gradients(bool gru, bool bias, const Tensor& dgi, const Tensor& dgh,
                             const Tensor& x, const Tensor& h, std::array<bool, 4> needed) {
  const int64_t N = x.size(0), I = x.size(1), H = h.size(1);
  WeightGrads g;
  // The LSTM's and the RNN's input and recurrent gate gradients are the same: both weight
  // gradients, and the bias gradient through a column of ones, in one product over
  // [x | h(t-1) | 1], which reads the gate gradients once instead of three times (measured on
  // one LSTM layer of W1-1x256, forward and backward: 3.5-5.4% less time). It costs a copy of
  // [x | h(t-1)] and of the two weight gradients out of the product, so only where the rows
  // outnumber those columns: not a decoder's one step of a few rows.
  const bool one_product = !gru && N >= 2 * (I + H + 1) && needed[0] && needed[1];
  if (one_product) {
    std::vector<Tensor> parts{x, h};
    if (bias) parts.push_back(at::ones({N, 1}, x.options()));
    const Tensor dw = at::mm(dgi.t(), at::cat(parts, 1));
    g.w_ih = dw.narrow(1, 0, I).contiguous();
    g.w_hh = dw.narrow(1, I, H).contiguous();
    if (bias) {
      g.b_ih = dw.select(1, I + H).contiguous();
      g.b_hh = g.b_ih.clone();
    }
  } else {
    if (needed[0]) g.w_ih = at::mm(dgi.t(), x);
    if (needed[1]) g.w_hh = at::mm(dgh.t(), h);
  }
  if (bias && !g.b_ih.defined() && (needed[2] || needed[3])) {
    g.b_ih = dgi.sum(0);
    g.b_hh = gru ? dgh.sum(0) : g.b_ih.clone();
  }
  if (!needed[2]) g.b_ih = Tensor();
  if (!needed[3]) g.b_hh = Tensor();
  return g;
}

// Deferred weight gradients, for a layer run one step at a time inside a PackingScope (the
// attention decoders): each step's backward hands its gate gradients, inputs and previous states
// to the group instead of computing [G, I] and [G, H] weight gradients from its few rows (B of
// them: memory-bound products, and autograd then adds each into the weights' gradients); the
// weights' gradients are computed once, over the rows of all steps, by the node of the group's
// token. Every step's node takes that token (a scalar) as an input, so autograd runs the token's
// node after every step node of the backward pass that it reaches. The contributions are kept
// only where the step's node is asked for the token's gradient (not by autograd::grad for other
// inputs alone). A backward pass stopped by an exception between the steps and the token's node
// leaves its contributions, which a later pass through the same token would add: do not reuse
// such a graph.
struct DeferredGradients : torch::CustomClassHolder {
  DeferredGradients(bool gru, bool bias) : gru(gru), bias(bias) {}
  void add(Tensor dgi, Tensor dgh, Tensor x, Tensor h) {
    std::lock_guard<std::mutex> lock(mutex);
    this->dgi.push_back(std::move(dgi));
    if (gru) this->dgh.push_back(std::move(dgh));
    this->x.push_back(std::move(x));
    this->h.push_back(std::move(h));
  }
  WeightGrads take(std::array<bool, 4> needed) {
    std::vector<Tensor> gi, gh, xs, hs;
    {
      std::lock_guard<std::mutex> lock(mutex);
      gi.swap(dgi);
      gh.swap(dgh);
      xs.swap(x);
      hs.swap(h);
    }
    if (gi.empty()) return {};
    ++deferred_products_made;
    const Tensor all_gi = at::cat(gi);
    return weight_gradients(gru, bias, all_gi, gru ? at::cat(gh) : all_gi, at::cat(xs),
                            at::cat(hs), needed);
  }
  const bool gru, bias;
  std::mutex mutex;
  std::vector<Tensor> dgi, dgh, x, h;  // per step's backward: [n, G], [n, G] (GRU), [n, I], [n, H]
};

// The token's node: forward makes the scalar token from the weights; backward hands them the
// group's gradients.
struct WeightGradientsFunction : public torch::autograd::Function<WeightGradientsFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                Tensor w_ih, Tensor /*w_hh*/, Tensor /*b_ih*/,
                                                Tensor /*b_hh*/,
                                                const c10::intrusive_ptr<DeferredGradients>& group) {
    ctx->saved_data["deferred"] = at::IValue::make_capsule(group);
    return {at::zeros({}, w_ih.options())};
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list) {
    auto group = c10::static_intrusive_pointer_cast<DeferredGradients>(
        ctx->saved_data["deferred"].toCapsule());
    const WeightGrads g = group->take({ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                       ctx->needs_input_grad(2), ctx->needs_input_grad(3)});
    return {g.w_ih, g.w_hh, g.b_ih, g.b_hh, Tensor()};
  }
};

// What a PackingScope gives one layer call: the kept panels, and the deferral group (null:
// none). Passed to LayerFunction as a plain argument, not an autograd input.
struct ScopedLayer {
  KeptPanels panels;
  c10::intrusive_ptr<DeferredGradients> deferred;
};

// The token's index among LayerFunction's tensor inputs (needs_input_grad counts tensors only:
// x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, token).
constexpr size_t kTokenInput = 8;

// The deferral groups a PackingScope keeps on this thread: one per recurrent layer (its weights,
// held so that their addresses cannot be reused), with its token; a new group when W_hh changes
// (the optimiser's step), as for the panels.
struct DeferralEntry {
  Tensor w_ih, w_hh, b_ih, b_hh;
  int64_t version;
  c10::intrusive_ptr<DeferredGradients> group;
  Tensor token;
};
thread_local std::vector<DeferralEntry>* deferral_entries = nullptr;

// The group and token for a layer call inside a scope whose weights need gradients; a null group
// outside a scope or when none of the weights needs one.
std::pair<c10::intrusive_ptr<DeferredGradients>, Tensor> scoped_deferral(
    const LayerSpec& spec, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
    const Tensor& b_hh) {
  const bool any = w_ih.requires_grad() || w_hh.requires_grad() ||
                   (b_ih.defined() && (b_ih.requires_grad() || b_hh.requires_grad()));
  if (deferral_entries == nullptr || !any) return {};
  auto same = [](const Tensor& a, const Tensor& b) {
    return a.defined() == b.defined() &&
           (!a.defined() || a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl());
  };
  auto& entries = *deferral_entries;
  for (size_t i = 0; i < entries.size(); ++i) {
    const DeferralEntry& e = entries[i];
    if (!same(e.w_hh, w_hh)) continue;
    if (same(e.w_ih, w_ih) && same(e.b_ih, b_ih) && same(e.b_hh, b_hh) &&
        e.version == w_hh._version() && e.group->gru == (spec.cell == CellKind::gru))
      return {e.group, e.token};
    entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));  // stale: a new one below
    break;
  }
  constexpr size_t kMaxEntries = 16;  // as for the panels
  if (entries.size() == kMaxEntries) entries.erase(entries.begin());
  auto group = c10::make_intrusive<DeferredGradients>(spec.cell == CellKind::gru, b_ih.defined());
  const Tensor none = at::empty({0}, w_ih.options());
  auto given = [&](const Tensor& t) { return t.defined() ? t : none; };
  const Tensor token =
      WeightGradientsFunction::apply(w_ih, w_hh, given(b_ih), given(b_hh), group)[0];
  entries.push_back({w_ih, w_hh, b_ih, b_hh, w_hh._version(), group, token});
  return {group, token};
}

// One layer and direction as one autograd node.
struct LayerFunction : public torch::autograd::Function<LayerFunction> {
  // `token`: the deferral's token (a scalar whose gradient node computes the weight gradients),
  // or an empty placeholder; the weights then arrive detached (no gradient of their own here).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, Tensor x,
                                                Tensor h0, Tensor c0, Tensor w_ih, Tensor w_hh,
                                                Tensor b_ih, Tensor b_hh, Tensor lengths,
                                                int64_t cell, int64_t nonlinearity,
                                                bool reverse, Tensor /*token*/,
                                                const ScopedLayer& scoped) {
    // Absent tensors arrive as empty placeholders (LibTorch 1.13's Function cannot take
    // undefined inputs).
    for (Tensor* t : {&c0, &b_ih, &b_hh, &lengths})
      if (t->numel() == 0) *t = Tensor();
    const LayerSpec spec{static_cast<CellKind>(cell), static_cast<Nonlinearity>(nonlinearity),
                         reverse};
    const KeptPanels& kept = scoped.panels;
    Buffers buf = forward_pass(spec, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, kept.forward,
                               kept.projection);
    LayerOutput out = outputs_of(spec, buf, lengths);
    ctx->save_for_backward({x, w_ih, w_hh});
    if (scoped.deferred) ctx->saved_data["deferred"] = at::IValue::make_capsule(scoped.deferred);
    // Inside a PackingScope every step's backward shares the scope's backward panels.
    ctx->saved_data["kept_panels"] = kept.backward.panels;
    ctx->saved_data["kept_ready"] = kept.backward.ready;
    ctx->saved_data["kept_input_panels"] = kept.input.panels;
    ctx->saved_data["kept_input_ready"] = kept.input.ready;
    ctx->saved_data["gates"] = buf.gates;
    ctx->saved_data["states"] = buf.states;
    ctx->saved_data["cells"] = buf.cells;
    ctx->saved_data["tanh_c"] = buf.tanh_c;
    ctx->saved_data["hidden_n"] = buf.hidden_n;
    ctx->saved_data["lengths"] = lengths;
    ctx->saved_data["cell"] = cell;
    ctx->saved_data["nonlinearity"] = nonlinearity;
    ctx->saved_data["reverse"] = reverse;
    ctx->saved_data["bias"] = b_ih.defined();
    if (spec.cell == CellKind::lstm) return {out.output, out.h, out.c};
    return {out.output, out.h};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& x = saved[0];
    const Tensor& w_ih = saved[1];
    const Tensor& w_hh = saved[2];
    const LayerSpec spec{static_cast<CellKind>(ctx->saved_data["cell"].toInt()),
                         static_cast<Nonlinearity>(ctx->saved_data["nonlinearity"].toInt()),
                         ctx->saved_data["reverse"].toBool()};
    auto tensor_of = [&](const char* key) {
      const auto& v = ctx->saved_data[key];
      return v.isTensor() ? v.toTensor() : Tensor();
    };
    Buffers buf{tensor_of("gates"), tensor_of("states"), tensor_of("cells"), tensor_of("tanh_c"),
                tensor_of("hidden_n")};
    const Tensor lengths = tensor_of("lengths");
    const Panels kept{tensor_of("kept_panels"), tensor_of("kept_ready")};
    const Panels kept_input{tensor_of("kept_input_panels"), tensor_of("kept_input_ready")};
    const bool bias = ctx->saved_data["bias"].toBool();
    const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1),
                  G = w_hh.size(0);
    const Dims d{T, B, H, G, spec.reverse};
    const bool lstm = spec.cell == CellKind::lstm, gru = spec.cell == CellKind::gru;

    const Tensor dout = grads[0].defined() ? grads[0].contiguous() : Tensor();
    Tensor dh = grads[1].defined() ? grads[1].contiguous().clone() : at::zeros({B, H}, x.options());
    Tensor dc;
    if (lstm) dc = grads[2].defined() ? grads[2].contiguous().clone() : at::zeros({B, H}, x.options());
    Tensor dgi = at::empty({T, B, G}, x.options());
    Tensor dgh = gru ? at::empty({T, B, G}, x.options()) : dgi;
    const int64_t* len = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
    Tensor dx;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "seqtorch_recurrent_backward", [&] {
      backward_steps<scalar_t>(spec, d, buf, dout, dh, dc, dgi, dgh, w_hh, len,
                               ctx->needs_input_grad(1), kept,
                               ctx->needs_input_grad(0) ? w_ih : Tensor(), dx, kept_input);
    });

    // The rest over all T*B rows at once (dx, unless the packed steps computed it).
    const Tensor dgi2 = dgi.view({T * B, G}), dgh2 = dgh.view({T * B, G});
    if (ctx->needs_input_grad(0) && !dx.defined()) dx = at::mm(dgi2, w_ih).view({T, B, I});
    const Tensor h_prev = buf.states.narrow(0, spec.reverse ? 1 : 0, T).reshape({T * B, H});
    const Tensor x2 = x.view({T * B, I});
    WeightGrads w;
    Tensor dtoken;
    if (ctx->saved_data.count("deferred") != 0) {
      // The weight gradients wait for the token's node (one product over every step's rows).
      if (ctx->needs_input_grad(kTokenInput)) {
        auto group = c10::static_intrusive_pointer_cast<DeferredGradients>(
            ctx->saved_data["deferred"].toCapsule());
        group->add(dgi2, gru ? dgh2 : Tensor(), x2, h_prev);
        dtoken = at::zeros({}, x.options());
      }
    } else {
      w = weight_gradients(gru, bias, dgi2, dgh2, x2, h_prev,
                           {ctx->needs_input_grad(3), ctx->needs_input_grad(4),
                            ctx->needs_input_grad(5), ctx->needs_input_grad(6)});
    }
    return {ctx->needs_input_grad(0) ? dx : Tensor(), ctx->needs_input_grad(1) ? dh : Tensor(),
            lstm && ctx->needs_input_grad(2) ? dc : Tensor(), w.w_ih, w.w_hh, w.b_ih, w.b_hh,
            Tensor(), Tensor(), Tensor(), Tensor(), dtoken, Tensor()};
  }
};

}  // namespace

void set_step_product(StepProduct product) { step_product_setting.store(product); }

int64_t packings() { return packings_made.load(); }
int64_t deferred_products() { return deferred_products_made.load(); }
bool packs_steps() { return packed_steps(at::empty({0}, torch::kFloat)); }

PackingScope::PackingScope() : owner_(scope_entries == nullptr) {
  if (!owner_) return;
  scope_entries = new std::vector<ScopeEntry>();
  deferral_entries = new std::vector<DeferralEntry>();
}
PackingScope::~PackingScope() {
  if (!owner_) return;
  delete scope_entries;
  scope_entries = nullptr;
  delete deferral_entries;
  deferral_entries = nullptr;
}
StepProduct step_product() { return step_product_setting.load(); }

LayerOutput run_layer(const LayerSpec& spec, const Tensor& x, const Tensor& h0, const Tensor& c0,
                      const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                      const Tensor& b_hh, const Tensor& lengths) {
  TORCH_CHECK(supports(w_ih), "cpu kernel: needs float32 or float64 weights on the CPU, got ",
              w_ih.scalar_type(), " on ", w_ih.device());
  // The packed paths read x, h0 and W_hh through raw pointers: a CUDA tensor or another dtype
  // must stop here with an error, not reach them.
  for (const Tensor* t : {&x, &h0, &w_hh})
    TORCH_CHECK(t->device().is_cpu() && t->scalar_type() == w_ih.scalar_type(),
                "cpu kernel: input, h0 and weight_hh must be ", w_ih.scalar_type(),
                " on the CPU like weight_ih, got ", t->scalar_type(), " on ", t->device());
  TORCH_CHECK(x.dim() == 3 && x.size(2) == w_ih.size(1), "cpu kernel: input ", x.sizes(),
              " does not fit weight_ih ", w_ih.sizes());
  TORCH_CHECK(b_ih.defined() == b_hh.defined(), "cpu kernel: give both biases or neither");
  TORCH_CHECK(!lengths.defined() || (lengths.device().is_cpu() &&
                                     lengths.scalar_type() == torch::kLong),
              "cpu kernel: lengths must be CPU int64");
  const Tensor xc = x.contiguous(), h0c = h0.contiguous();
  const Tensor c0c = c0.defined() ? c0.contiguous() : Tensor();
  const Tensor len = lengths.defined() ? lengths.contiguous() : Tensor();
  const bool needs_graph =
      torch::GradMode::is_enabled() &&
      (xc.requires_grad() || h0c.requires_grad() || (c0c.defined() && c0c.requires_grad()) ||
       w_ih.requires_grad() || w_hh.requires_grad() ||
       (b_ih.defined() && (b_ih.requires_grad() || b_hh.requires_grad())));
  ScopedLayer scoped;
  scoped.panels = scoped_panels(w_ih, w_hh);
  if (!needs_graph) {
    torch::NoGradGuard no_grad;
    return outputs_of(spec,
                      forward_pass(spec, xc, h0c, c0c, w_ih, w_hh, b_ih, b_hh, len,
                                   scoped.panels.forward, scoped.panels.projection),
                      len);
  }
  const Tensor none = at::empty({0}, xc.options());
  auto given = [&](const Tensor& t) { return t.defined() ? t : none; };
  Tensor token;
  std::tie(scoped.deferred, token) = scoped_deferral(spec, w_ih, w_hh, b_ih, b_hh);
  // With a deferral the weights' gradients come through the token: the step's node sees them
  // detached (the same values and version counters).
  auto weight = [&](const Tensor& t) {
    return !t.defined() ? none : scoped.deferred ? t.detach() : t;
  };
  auto out = LayerFunction::apply(xc, h0c, given(c0c), weight(w_ih), weight(w_hh), weight(b_ih),
                                  weight(b_hh), len.defined() ? len : at::empty({0}, torch::kLong),
                                  static_cast<int64_t>(spec.cell),
                                  static_cast<int64_t>(spec.nonlinearity), spec.reverse,
                                  token.defined() ? token : none, scoped);
  LayerOutput result{out[0], out[1], Tensor()};
  if (spec.cell == CellKind::lstm) result.c = out[2];
  return result;
}

}  // namespace seqtorch::nn::cpu_kernel
