#pragma once
// Private to the library: vectorisable exp / sigmoid / tanh for the recurrent kernels, and the
// run-time checks for their AVX2 / AVX-512 variants. Files using it are compiled with -fno-trapping-math
// (lib/CMakeLists.txt), without which GCC does not vectorise the clamps below.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#define SEQTORCH_HAVE_AVX2_VARIANT 1
#endif

namespace seqtorch::simd {

#define SEQTORCH_ALWAYS_INLINE __attribute__((always_inline)) inline

// exp in plain arithmetic the compiler vectorises (Cephes' expf: range reduction by ln 2, a
// degree-6 polynomial, the power of two put into the exponent bits); within 2 ulp on the
// clamped range. NaN stays NaN. float64 keeps std::exp.
SEQTORCH_ALWAYS_INLINE float exp_of(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  // The exponent from a NaN-free copy (converting NaN to an integer is undefined; found by
  // scripts/sanitize.sh): NaN still comes out NaN, through r below.
  const float fx = (x == x ? x : 0.f) * 1.44269504088896341f;
  const int32_t n = static_cast<int32_t>(fx + (fx >= 0.f ? 0.5f : -0.5f));
  const float nf = static_cast<float>(n);
  float r = x - nf * 0.693359375f;
  r = r + nf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
SEQTORCH_ALWAYS_INLINE double exp_of(double x) { return std::exp(x); }

template <typename S>
SEQTORCH_ALWAYS_INLINE S sigmoid(S x) {
  return S(1) / (S(1) + exp_of(-x));
}
// float: 2 sigmoid(2x) - 1 (vectorisable; absolute error ~1e-7); float64: std::tanh.
SEQTORCH_ALWAYS_INLINE float tanh_of(float x) { return 2.f / (1.f + exp_of(-2.f * x)) - 1.f; }
SEQTORCH_ALWAYS_INLINE double tanh_of(double x) { return std::tanh(x); }

/// Whether the CPU runs the AVX2 + FMA variants (checked once).
inline bool cpu_has_avx2() {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
#else
  return false;
#endif
}

/// Whether the CPU runs AVX-512 F + VL variants (checked once).
inline bool cpu_has_avx512() {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  }();
  return yes;
#else
  return false;
#endif
}

}  // namespace seqtorch::simd
