#include "step_gemm.h"

#include "simd_math.h"

#include <algorithm>
#include <cstring>

#ifdef SEQTORCH_HAVE_AVX2_VARIANT
#include <immintrin.h>
#endif

namespace seqtorch::nn::step_gemm {

bool available() { return simd::cpu_has_avx512(); }

int64_t units_per_panel(int64_t gates) { return kColumns / gates; }

void pack_forward_panel(float* panel, const float* w, int64_t gates, int64_t H, int64_t p) {
  const int64_t u = units_per_panel(gates);
  std::fill(panel, panel + H * kColumns, 0.f);
  // Blocks of 16 values of each of the panel's rows of W: 64 contiguous bytes read per row, 16
  // panel rows written, all in L1 (column by column, with every write 128 bytes from the last,
  // packing a 2048 x 512 W_hh took 2.4-2.8x as long).
  constexpr int64_t kBlock = 16;
  for (int64_t k0 = 0; k0 < H; k0 += kBlock) {
    const int64_t k1 = std::min(H, k0 + kBlock);
    for (int64_t q = 0; q < gates; ++q)
      for (int64_t i = 0; i < u && p * u + i < H; ++i) {
        const float* row = w + (q * H + p * u + i) * H;
        float* column = panel + q * u + i;
        for (int64_t k = k0; k < k1; ++k) column[k * kColumns] = row[k];
      }
  }
}

void pack_backward_panel(float* panel, const float* w, int64_t G, int64_t H, int64_t j0,
                         int64_t j1) {
  const int64_t n = std::min(j1 - j0, kColumns);
  for (int64_t k = 0; k < G; ++k) {
    float* dst = panel + k * kColumns;
    std::memcpy(dst, w + k * H + j0, sizeof(float) * n);
    std::fill(dst + n, dst + kColumns, 0.f);
  }
}

void pack_rows(float* dst, const float* src, int64_t ld, int64_t B, int64_t k0, int64_t k1,
               int64_t K) {
  for (int64_t b = 0; b < B; ++b) {
    const float* row = src + b * ld;
    float* out = dst + (b / kRows) * K * kRows + b % kRows;
    for (int64_t k = k0; k < k1; ++k) out[k * kRows] = row[k];
  }
}

#ifdef SEQTORCH_HAVE_AVX2_VARIANT
namespace {

// M rows x 32 columns in 2M AVX-512 accumulators; each step of k loads the panel's two vectors
// once and broadcasts one value of each row.
template <int M>
__attribute__((target("avx512f"))) void tile_rows(const float* a, const float* panel, int64_t K,
                                                  float* out) {
  __m512 lo[M], hi[M];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_load_ps(panel + k * kColumns);
    const __m512 b1 = _mm512_load_ps(panel + k * kColumns + 16);
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      const __m512 x = _mm512_set1_ps(a[k * kRows + r]);
      lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) {
    _mm512_storeu_ps(out + r * kColumns, lo[r]);
    _mm512_storeu_ps(out + r * kColumns + 16, hi[r]);
  }
}

}  // namespace
#endif

void tile(const float* a, const float* panel, int64_t K, int64_t rows, float* out) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  switch (rows) {
    case 1: return tile_rows<1>(a, panel, K, out);
    case 2: return tile_rows<2>(a, panel, K, out);
    case 3: return tile_rows<3>(a, panel, K, out);
    case 4: return tile_rows<4>(a, panel, K, out);
    case 5: return tile_rows<5>(a, panel, K, out);
    case 6: return tile_rows<6>(a, panel, K, out);
    case 7: return tile_rows<7>(a, panel, K, out);
    default: return tile_rows<8>(a, panel, K, out);
  }
#else
  (void)a, (void)panel, (void)K, (void)rows, (void)out;
#endif
}

}  // namespace seqtorch::nn::step_gemm
