#include "fused_step.h"

#include "../nn/simd_math.h"

#include <cmath>

namespace seqtorch::train::fused {

namespace {
// The update, its weight decay chosen at compile time (as torch::optim skips each kind where it
// is 0, so that a NaN or an infinity in p does not reach g' or p through 0 * p).
template <bool L2, bool Decay>
SEQTORCH_ALWAYS_INLINE void update(const AdamStep& a, float* __restrict p, const float* __restrict g,
                                   float* __restrict m, float* __restrict v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = L2 ? g[i] + a.l2 * p[i] : g[i];
    const float pi = Decay ? p[i] * a.decay : p[i];
    const float mi = a.beta1 * m[i] + a.one_minus_beta1 * gi;
    const float vi = a.beta2 * v[i] + a.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - a.step_size * mi / (std::sqrt(vi) / a.sqrt_bias2 + a.eps);
  }
}

SEQTORCH_ALWAYS_INLINE void update_any(const AdamStep& a, float* p, const float* g, float* m, float* v, int64_t n) {
  const bool l2 = a.l2 != 0, decay = a.decay != 1;
  if (l2 && decay) return update<true, true>(a, p, g, m, v, n);
  if (l2) return update<true, false>(a, p, g, m, v, n);
  if (decay) return update<false, true>(a, p, g, m, v, n);
  update<false, false>(a, p, g, m, v, n);
}

SEQTORCH_ALWAYS_INLINE double squares(const float* x, int64_t n) {
  // Eight float64 sums side by side (vectorisable without reassociating one sum), then added.
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += static_cast<double>(x[i + k]) * x[i + k];
  for (; i < n; ++i) s[0] += static_cast<double>(x[i]) * x[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

SEQTORCH_ALWAYS_INLINE void times(float* x, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

// Each loop compiled for the baseline, AVX2 + FMA and AVX-512 (16-wide), picked at run time, as
// the recurrent kernel's gate passes are (nn/cpu_kernel.cpp).
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
#define SEQTORCH_AVX2 __attribute__((target("avx2,fma")))
#define SEQTORCH_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma,prefer-vector-width=512")))
SEQTORCH_AVX512 void update_avx512(const AdamStep& a, float* p, const float* g, float* m, float* v, int64_t n) {
  update_any(a, p, g, m, v, n);
}
SEQTORCH_AVX2 void update_avx2(const AdamStep& a, float* p, const float* g, float* m, float* v, int64_t n) {
  update_any(a, p, g, m, v, n);
}
SEQTORCH_AVX512 double squares_avx512(const float* x, int64_t n) { return squares(x, n); }
SEQTORCH_AVX2 double squares_avx2(const float* x, int64_t n) { return squares(x, n); }
SEQTORCH_AVX512 void times_avx512(float* x, int64_t n, float factor) { times(x, n, factor); }
SEQTORCH_AVX2 void times_avx2(float* x, int64_t n, float factor) { times(x, n, factor); }
#endif
}  // namespace

void adam_update(const AdamStep& step, float* p, const float* g, float* m, float* v, int64_t n) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  if (simd::cpu_has_avx512()) return update_avx512(step, p, g, m, v, n);
  if (simd::cpu_has_avx2()) return update_avx2(step, p, g, m, v, n);
#endif
  update_any(step, p, g, m, v, n);
}

double sum_of_squares(const float* x, int64_t n) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  if (simd::cpu_has_avx512()) return squares_avx512(x, n);
  if (simd::cpu_has_avx2()) return squares_avx2(x, n);
#endif
  return squares(x, n);
}

void scale(float* x, int64_t n, float factor) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  if (simd::cpu_has_avx512()) return times_avx512(x, n, factor);
  if (simd::cpu_has_avx2()) return times_avx2(x, n, factor);
#endif
  times(x, n, factor);
}

}  // namespace seqtorch::train::fused
