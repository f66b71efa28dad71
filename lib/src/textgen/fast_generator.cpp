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

// bf16 weights bits -> float32 (exact).
SEQTORCH_ALWAYS_INLINE float bf16_low(uint32_t u) {
  const uint32_t bits = u << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
SEQTORCH_ALWAYS_INLINE float bf16_high(uint32_t u) {
  const uint32_t bits = u & 0xffff0000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// gemv_t over bf16 pairs: wt [pairs, ld] of (row 2p, row 2p + 1); x holds 2 * pairs values.
SEQTORCH_ALWAYS_INLINE void gemv_t_bf16(float* __restrict acc, const uint32_t* __restrict wt,
                                        const float* __restrict x, int64_t pairs, int64_t ld,
                                        int64_t N) {
  int64_t p = 0;
  for (; p + 2 <= pairs; p += 2) {  // four weight rows per pass
    const float x0 = x[2 * p], x1 = x[2 * p + 1], x2 = x[2 * p + 2], x3 = x[2 * p + 3];
    const uint32_t* __restrict w0 = wt + p * ld;
    const uint32_t* __restrict w1 = w0 + ld;
    for (int64_t j = 0; j < N; ++j) {
      const uint32_t a = w0[j], b = w1[j];
      acc[j] += x0 * bf16_low(a) + x1 * bf16_high(a) + x2 * bf16_low(b) + x3 * bf16_high(b);
    }
  }
  for (; p < pairs; ++p) {
    const float x0 = x[2 * p], x1 = x[2 * p + 1];
    const uint32_t* __restrict w0 = wt + p * ld;
    for (int64_t j = 0; j < N; ++j) acc[j] += x0 * bf16_low(w0[j]) + x1 * bf16_high(w0[j]);
  }
}

// gemv_t over int8 weights (unscaled: the caller scales each output once).
SEQTORCH_ALWAYS_INLINE void gemv_t_int8(float* __restrict acc, const int8_t* __restrict wt,
                                        const float* __restrict x, int64_t K, int64_t ld,
                                        int64_t N) {
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
    const int8_t* __restrict w0 = wt + k * ld;
    const int8_t* __restrict w1 = w0 + ld;
    const int8_t* __restrict w2 = w1 + ld;
    const int8_t* __restrict w3 = w2 + ld;
    for (int64_t j = 0; j < N; ++j)
      acc[j] += x0 * static_cast<float>(w0[j]) + x1 * static_cast<float>(w1[j]) +
                x2 * static_cast<float>(w2[j]) + x3 * static_cast<float>(w3[j]);
  }
  for (; k < K; ++k) {
    const float xk = x[k];
    const int8_t* __restrict w = wt + k * ld;
    for (int64_t j = 0; j < N; ++j) acc[j] += xk * static_cast<float>(w[j]);
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
void gemv_t_bf16_baseline(float* acc, const uint32_t* wt, const float* x, int64_t pairs, int64_t N) {
  gemv_t_bf16(acc, wt, x, pairs, N, N);
}
void gemv_t_int8_baseline(float* acc, const int8_t* wt, const float* x, int64_t K, int64_t N) {
  gemv_t_int8(acc, wt, x, K, N, N);
}
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
__attribute__((target("avx2,fma"))) void gemv_t_bf16_avx2(float* acc, const uint32_t* wt, const float* x,
                                                          int64_t pairs, int64_t N) {
  gemv_t_bf16(acc, wt, x, pairs, N, N);
}
__attribute__((target("avx512f,avx512vl,avx512bw,avx2,fma"))) void gemv_t_bf16_avx512(
    float* acc, const uint32_t* wt, const float* x, int64_t pairs, int64_t N) {
  gemv_t_bf16(acc, wt, x, pairs, N, N);
}
__attribute__((target("avx2,fma"))) void gemv_t_int8_avx2(float* acc, const int8_t* wt, const float* x,
                                                          int64_t K, int64_t N) {
  gemv_t_int8(acc, wt, x, K, N, N);
}
__attribute__((target("avx512f,avx512vl,avx512bw,avx2,fma"))) void gemv_t_int8_avx512(
    float* acc, const int8_t* wt, const float* x, int64_t K, int64_t N) {
  gemv_t_int8(acc, wt, x, K, N, N);
}
#endif
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

// acc[0:N] += rows [k0, k1) of the packed product (int8: unscaled; bf16: k0, k1 even or K).
void accumulate(float* acc, const FastGenerator::Packed& m, WeightFormat format, const float* x,
                int64_t k0, int64_t k1) {
  const int64_t N = m.N;
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  const bool avx512 = cpu_has_avx512(), avx2 = cpu_has_avx2();
#endif
  switch (format) {
    case WeightFormat::f32: {
      const float* wt = m.f32.data() + k0 * N;
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
      if (avx512) return gemv_t_avx512(acc, wt, x + k0, k1 - k0, N, 0, N);
      if (avx2) return gemv_t_avx2(acc, wt, x + k0, k1 - k0, N, 0, N);
#endif
      return gemv_t_baseline(acc, wt, x + k0, k1 - k0, N, 0, N);
    }
    case WeightFormat::bf16: {
      const uint32_t* wt = m.bf16.data() + (k0 / 2) * N;
      const int64_t pairs = (k1 - k0 + 1) / 2;  // x is padded to an even length
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
      if (avx512) return gemv_t_bf16_avx512(acc, wt, x + k0, pairs, N);
      if (avx2) return gemv_t_bf16_avx2(acc, wt, x + k0, pairs, N);
#endif
      return gemv_t_bf16_baseline(acc, wt, x + k0, pairs, N);
    }
    case WeightFormat::int8: {
      const int8_t* wt = m.q.data() + k0 * N;
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
      if (avx512) return gemv_t_int8_avx512(acc, wt, x + k0, k1 - k0, N);
      if (avx2) return gemv_t_int8_avx2(acc, wt, x + k0, k1 - k0, N);
#endif
      return gemv_t_int8_baseline(acc, wt, x + k0, k1 - k0, N);
  }
  }
}

// out = bias + W x for W packed (transposed). Big products are split over threads by rows of the
// packed matrix (each thread streams one contiguous block of the weights into its own partial
// sum), then the partial sums are added. x holds K values (bf16: padded with a 0 to even K).
void affine(float* out, const float* bias, const FastGenerator::Packed& m, WeightFormat format, const float* x,
            util::AlignedVector<float>& partial) {
  const int64_t K = m.K, N = m.N;
  const bool scaled = format == WeightFormat::int8;
  if (scaled) std::fill(out, out + N, 0.f);
  else std::memcpy(out, bias, sizeof(float) * N);
  constexpr int64_t kParallelWork = 1 << 18;  // multiply-adds
  const int64_t blocks = format == WeightFormat::bf16 ? (K + 1) / 2 : K;  // bf16: split by pairs
  const int64_t parts = std::min<int64_t>(at::get_num_threads(), blocks);
  auto row = [&](int64_t p) { return std::min(K, (p * blocks / parts) * (format == WeightFormat::bf16 ? 2 : 1)); };
  if (K * N < kParallelWork || parts < 2) {
    accumulate(out, m, format, x, 0, K);
  } else {
    partial.assign(static_cast<size_t>((parts - 1) * N), 0.f);
    at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        accumulate(p == 0 ? out : partial.data() + (p - 1) * N, m, format, x, row(p), row(p + 1));
    });
    for (int64_t p = 1; p < parts; ++p)
      for (int64_t j = 0; j < N; ++j) out[j] += partial[(p - 1) * N + j];
  }
  if (scaled)
    for (int64_t j = 0; j < N; ++j) out[j] = bias[j] + m.scale[j] * out[j];
}

// Per-row scales of int8 storage: the row's largest magnitude / 127 (1 for a zero row).
torch::Tensor int8_scales(const torch::Tensor& w) {
  const auto top = w.abs().amax(1) / 127.0;
  return torch::where(top > 0, top, torch::ones_like(top));
}

FastGenerator::Packed pack(const torch::Tensor& w_in, WeightFormat format) {
  const torch::Tensor w = w_in.detach().to(torch::kCPU, torch::kFloat).contiguous();  // [N, K]
  FastGenerator::Packed m;
  m.N = w.size(0);
  m.K = w.size(1);
  switch (format) {
    case WeightFormat::f32: {
      const auto t = w.t().contiguous();
      m.f32.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      break;
    }
    case WeightFormat::bf16: {
      // Rows of W^T in pairs (a zero row after an odd last one), each value's bf16 bits.
      const auto t = torch::constant_pad_nd(w.t(), {0, 0, 0, m.K % 2}).to(torch::kBFloat16).contiguous();
      const auto bits = t.view(torch::kShort).to(torch::kLong).bitwise_and(0xffff).view({-1, 2, m.N});
      const auto words = (bits.select(1, 0) + bits.select(1, 1) * 65536).contiguous();
      m.bf16.resize(static_cast<size_t>(words.numel()));
      const int64_t* src = words.data_ptr<int64_t>();
      for (size_t i = 0; i < m.bf16.size(); ++i) m.bf16[i] = static_cast<uint32_t>(src[i]);
      break;
    }
    case WeightFormat::int8: {
      const auto scale = int8_scales(w);
      const auto q = (w / scale.unsqueeze(1)).round().clamp(-127, 127).to(torch::kChar).t().contiguous();
      m.q.assign(q.data_ptr<int8_t>(), q.data_ptr<int8_t>() + q.numel());
      m.scale.assign(scale.data_ptr<float>(), scale.data_ptr<float>() + m.N);
      break;
    }
  }
  return m;
}

int64_t bytes_of(const FastGenerator::Packed& m) {
  return static_cast<int64_t>(m.f32.size() * sizeof(float) + m.bf16.size() * sizeof(uint32_t) + m.q.size() +
                              m.scale.size() * sizeof(float));
}

}  // namespace

std::string to_string(WeightFormat w) {
  return w == WeightFormat::f32 ? "f32" : w == WeightFormat::bf16 ? "bf16" : "int8";
}

WeightFormat parse_weight_format(const std::string& name) {
  for (auto w : {WeightFormat::f32, WeightFormat::bf16, WeightFormat::int8})
    if (name == to_string(w)) return w;
  TORCH_CHECK(false, "weights: expected f32, bf16 or int8, got '", name, "'");
}

torch::Tensor rounded_weights(const torch::Tensor& w, WeightFormat format) {
  TORCH_CHECK(w.dim() == 2, "rounded_weights: expected a matrix, got ", w.sizes());
  switch (format) {
    case WeightFormat::f32: return w;
    case WeightFormat::bf16: return w.to(torch::kBFloat16).to(w.scalar_type());
    case WeightFormat::int8: {
      const auto scale = int8_scales(w.to(torch::kFloat)).unsqueeze(1);
      return ((w.to(torch::kFloat) / scale).round().clamp(-127, 127) * scale).to(w.scalar_type());
    }
  }
  return w;
}

void round_weights(CharModel& model, WeightFormat format) {
  torch::NoGradGuard no_grad;
  for (int64_t l = 0; l < model->options.num_layers(); ++l)
    for (int64_t d = 0; d < model->rnn->num_directions(); ++d) {
      auto w = model->rnn->layer_parameters(l, d);
      // W_ih and W_hh as the generator packs them: one matrix [4H, I + H] (int8: one scale per
      // row of the pair).
      const auto both = rounded_weights(torch::cat({w[0], w[1]}, 1), format);
      w[0].copy_(both.narrow(1, 0, w[0].size(1)));
      w[1].copy_(both.narrow(1, w[0].size(1), w[1].size(1)));
    }
  auto& head = model->options.tie_weights() ? model->embed->weight : model->head_weight;
  head.copy_(rounded_weights(head, format));
}

bool FastGenerator::supports(const CharModel& model) {
  return model->options.cell() == nn::CellKind::lstm && model->head_bias.device().is_cpu() &&
         model->head_bias.scalar_type() == torch::kFloat;
}

FastGenerator::FastGenerator(const CharModel& model, WeightFormat weights) : format_(weights) {
  TORCH_CHECK(supports(model), "fast generator: needs an LSTM model on the CPU in float32");
  torch::NoGradGuard no_grad;
  const auto& o = model->options;
  layers_ = o.num_layers();
  hidden_ = o.hidden_size();
  vocab_ = o.vocab_size();
  // A tied embedding is the output layer's matrix: rounded as it is.
  embedding_ = (o.tie_weights() ? rounded_weights(model->embed->weight.detach(), weights)
                                : model->embed->weight.detach()).clone().contiguous();
  for (int64_t l = 0; l < layers_; ++l) {
    auto w = model->rnn->layer_parameters(l, 0);  // w_ih, w_hh, b_ih, b_hh
    packed_.push_back(pack(torch::cat({w[0], w[1]}, 1), weights));  // [4H, I_l + H]
    bias_.push_back(w.size() > 2 ? (w[2] + w[3]).contiguous() : torch::zeros({4 * hidden_}));
    xh_.push_back(torch::zeros({packed_.back().K + packed_.back().K % 2}));  // a 0 after an odd K
    gates_.push_back(torch::zeros({4 * hidden_}));
    c_.push_back(torch::zeros({hidden_}));
  }
  head_ = pack(o.tie_weights() ? model->embed->weight : model->head_weight, weights);
  head_bias_ = model->head_bias.detach().clone().contiguous();
  logits_ = torch::zeros({vocab_});
  head_input_.assign(static_cast<size_t>(hidden_ + hidden_ % 2), 0.f);
}

int64_t FastGenerator::weight_bytes() const {
  int64_t bytes = bytes_of(head_);
  for (const auto& m : packed_) bytes += bytes_of(m);
  return bytes;
}

double FastGenerator::bits_per_token(const std::vector<int64_t>& tokens) {
  TORCH_CHECK(tokens.size() >= 2, "bits_per_token: needs at least two tokens");
  torch::NoGradGuard no_grad;
  reset();
  double nats = 0;
  for (size_t t = 0; t + 1 < tokens.size(); ++t) {
    const float* z = step(tokens[t]).data_ptr<float>();
    const int64_t next = tokens[t + 1];
    TORCH_CHECK(next >= 0 && next < vocab_, "bits_per_token: token ", next, " outside [0, ", vocab_, ")");
    double top = z[0], sum = 0;
    for (int64_t v = 1; v < vocab_; ++v) top = std::max(top, static_cast<double>(z[v]));
    for (int64_t v = 0; v < vocab_; ++v) sum += std::exp(static_cast<double>(z[v]) - top);
    nats += top + std::log(sum) - z[next];
  }
  return nats / std::log(2.0) / static_cast<double>(tokens.size() - 1);
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
    affine(g, bias_[l].data_ptr<float>(), packed_[l], format_, xh, partial_);
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
  // The head reads h padded to an even length (bf16 pairs).
  std::memcpy(head_input_.data(), input, sizeof(float) * H);
  affine(logits_.data_ptr<float>(), head_bias_.data_ptr<float>(), head_, format_, head_input_.data(), partial_);
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
