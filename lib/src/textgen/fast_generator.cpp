#include <seqtorch/textgen/fast_generator.h>

#include "../nn/simd_math.h"

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

namespace seqtorch::textgen {

namespace {

using namespace seqtorch::simd;

// acc[j0:j1] += sum_k x[k] * wt[k, j0:j1]: the matrix-vector product in axpy form over the
// transposed weights, so the inner loop is a contiguous, vectorisable stream.
SEQTORCH_ALWAYS_INLINE void gemv_t(float* __restrict acc, const float* __restrict wt,
                                   const float* __restrict x, int64_t K, int64_t ld, int64_t j0,
                                   int64_t j1) {
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {  // four weight rows per pass: acc is loaded and stored once
    const float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
    const float* __restrict w0 = wt + k * ld;
    const float* __restrict w1 = w0 + ld;
    const float* __restrict w2 = w1 + ld;
    const float* __restrict w3 = w2 + ld;
    for (int64_t j = j0; j < j1; ++j) acc[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
  }
  for (; k < K; ++k) {
    const float xk = x[k];
    const float* __restrict w = wt + k * ld;
    for (int64_t j = j0; j < j1; ++j) acc[j] += xk * w[j];
  }
}

// The LSTM cell on the gate pre-activations g [4H]: c updated in place, h written.
SEQTORCH_ALWAYS_INLINE void lstm_cell(const float* __restrict g, float* __restrict c,
                                      float* __restrict h, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float i = sigmoid(g[j]);
    const float f = sigmoid(g[H + j]);
    const float z = tanh_of(g[2 * H + j]);
    const float o = sigmoid(g[3 * H + j]);
    const float cj = f * c[j] + i * z;
    c[j] = cj;
    h[j] = o * tanh_of(cj);
  }
}

void gemv_t_baseline(float* acc, const float* wt, const float* x, int64_t K, int64_t ld,
                     int64_t j0, int64_t j1) {
  gemv_t(acc, wt, x, K, ld, j0, j1);
}
void lstm_cell_baseline(const float* g, float* c, float* h, int64_t H) { lstm_cell(g, c, h, H); }
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
__attribute__((target("avx2,fma"))) void gemv_t_avx2(float* acc, const float* wt, const float* x,
                                                     int64_t K, int64_t ld, int64_t j0,
                                                     int64_t j1) {
  gemv_t(acc, wt, x, K, ld, j0, j1);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void gemv_t_avx512(
    float* acc, const float* wt, const float* x, int64_t K, int64_t ld, int64_t j0, int64_t j1) {
  gemv_t(acc, wt, x, K, ld, j0, j1);
}
__attribute__((target("avx2,fma"))) void lstm_cell_avx2(const float* g, float* c, float* h,
                                                        int64_t H) {
  lstm_cell(g, c, h, H);
}
#endif

// out = bias + W x for W given transposed (wt [K, N]). Big products are split over threads by
// rows of wt (each thread streams one contiguous block of the weights into its own partial sum),
// then the partial sums are added.
void affine(float* out, const float* bias, const float* wt, const float* x, int64_t K, int64_t N,
            std::vector<float>& partial) {
  const bool avx2 = cpu_has_avx2();
  auto run = [&](float* acc, int64_t k0, int64_t k1) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
    if (cpu_has_avx512()) return gemv_t_avx512(acc, wt + k0 * N, x + k0, k1 - k0, N, 0, N);
    if (avx2) return gemv_t_avx2(acc, wt + k0 * N, x + k0, k1 - k0, N, 0, N);
#endif
    gemv_t_baseline(acc, wt + k0 * N, x + k0, k1 - k0, N, 0, N);
  };
  std::memcpy(out, bias, sizeof(float) * N);
  constexpr int64_t kParallelWork = 1 << 18;  // multiply-adds
  const int64_t parts = std::min<int64_t>(at::get_num_threads(), K);
  if (K * N < kParallelWork || parts < 2) return run(out, 0, K);
  partial.assign(static_cast<size_t>((parts - 1) * N), 0.f);
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      run(p == 0 ? out : partial.data() + (p - 1) * N, p * K / parts, (p + 1) * K / parts);
  });
  for (int64_t p = 1; p < parts; ++p)
    for (int64_t j = 0; j < N; ++j) out[j] += partial[(p - 1) * N + j];
  (void)avx2;
}

}  // namespace

bool FastGenerator::supports(const CharModel& model) {
  return model->options.cell() == nn::CellKind::lstm && model->head_bias.device().is_cpu() &&
         model->head_bias.scalar_type() == torch::kFloat;
}

FastGenerator::FastGenerator(const CharModel& model) {
  TORCH_CHECK(supports(model), "fast generator: needs an LSTM model on the CPU in float32");
  torch::NoGradGuard no_grad;
  const auto& o = model->options;
  layers_ = o.num_layers();
  hidden_ = o.hidden_size();
  vocab_ = o.vocab_size();
  embedding_ = model->embed->weight.detach().clone().contiguous();
  for (int64_t l = 0; l < layers_; ++l) {
    auto w = model->rnn->layer_parameters(l, 0);  // w_ih, w_hh, b_ih, b_hh
    packed_.push_back(torch::cat({w[0], w[1]}, 1).t().contiguous());  // [I_l + H, 4H]
    bias_.push_back(w.size() > 2 ? (w[2] + w[3]).contiguous() : torch::zeros({4 * hidden_}));
    xh_.push_back(torch::zeros({packed_.back().size(0)}));
    gates_.push_back(torch::zeros({4 * hidden_}));
    c_.push_back(torch::zeros({hidden_}));
  }
  head_weight_ = (o.tie_weights() ? model->embed->weight : model->head_weight).detach().t().contiguous();
  head_bias_ = model->head_bias.detach().clone().contiguous();
  logits_ = torch::zeros({vocab_});
}

void FastGenerator::reset() {
  for (int64_t l = 0; l < layers_; ++l) {
    xh_[l].zero_();
    c_[l].zero_();
  }
}

const torch::Tensor& FastGenerator::step(int64_t token) {
  TORCH_CHECK(token >= 0 && token < vocab_, "fast generator: token ", token, " outside [0, ", vocab_, ")");
  const int64_t H = hidden_;
  const bool avx2 = cpu_has_avx2();
  // Layer input: the embedding row (layer 0) or the layer below's h, in front of this layer's h.
  const float* input = embedding_.data_ptr<float>() + token * embedding_.size(1);
  int64_t input_size = embedding_.size(1);
  for (int64_t l = 0; l < layers_; ++l) {
    float* xh = xh_[l].data_ptr<float>();
    std::memcpy(xh, input, sizeof(float) * input_size);  // xh = [x; h(t-1)]
    float* g = gates_[l].data_ptr<float>();
    affine(g, bias_[l].data_ptr<float>(), packed_[l].data_ptr<float>(), xh, input_size + H, 4 * H,
           partial_);
    float* h = xh + input_size;  // h(t) overwrites h(t-1) in place, ready for the next step
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
    if (avx2)
      lstm_cell_avx2(g, c_[l].data_ptr<float>(), h, H);
    else
#endif
      lstm_cell_baseline(g, c_[l].data_ptr<float>(), h, H);
    input = h;
    input_size = H;
  }
  affine(logits_.data_ptr<float>(), head_bias_.data_ptr<float>(), head_weight_.data_ptr<float>(),
         input, H, vocab_, partial_);
  (void)avx2;
  return logits_;
}

std::vector<int64_t> FastGenerator::generate(const std::vector<int64_t>& prime, int64_t length,
                                             const decode::SamplingOptions& options, uint64_t seed,
                                             const std::function<void(int64_t)>& on_token) {
  decode::check(options);
  TORCH_CHECK(length >= 0, "length: expected >= 0, got ", length);
  TORCH_CHECK(!prime.empty(), "generate: the prime must hold at least one token");
  torch::NoGradGuard no_grad;
  reset();
  for (int64_t t : prime) step(t);
  decode::Sampler sampler(seed);
  std::vector<int64_t> out;
  out.reserve(length);
  for (int64_t i = 0; i < length; ++i) {
    const int64_t t = sampler.draw(logits_.data_ptr<float>(), vocab_, options);
    out.push_back(t);
    if (on_token) on_token(t);
    if (i + 1 < length) step(t);
  }
  return out;
}

}  // namespace seqtorch::textgen
