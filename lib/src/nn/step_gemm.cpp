#include "step_gemm.h"

#include "simd_math.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

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

void pack_row_panel(float* panel, const float* w, int64_t ld, int64_t K, int64_t c0, int64_t n) {
  // Blocks of 16 values of each row, as pack_forward_panel.
  constexpr int64_t kBlock = 16;
  if (n < kColumns) std::fill(panel, panel + K * kColumns, 0.f);
  for (int64_t k0 = 0; k0 < K; k0 += kBlock) {
    const int64_t k1 = std::min(K, k0 + kBlock);
    for (int64_t c = 0; c < n; ++c) {
      const float* row = w + (c0 + c) * ld;
      for (int64_t k = k0; k < k1; ++k) panel[k * kColumns + c] = row[k];
    }
  }
}

#ifdef SEQTORCH_HAVE_AVX2_VARIANT
namespace {

// Columns k0 ... k0+7 of 8 rows (row stride ld) into dst[k 8 + r]: one 8 x 8 transpose.
__attribute__((target("avx2"))) void transpose8(float* dst, const float* src, int64_t ld) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld);
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst + 0 * kRows, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + 1 * kRows, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * kRows, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * kRows, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * kRows, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * kRows, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * kRows, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * kRows, _mm256_permute2f128_ps(s3, s7, 0x31));
}

}  // namespace
#endif

void pack_rows(float* dst, const float* src, int64_t ld, int64_t B, int64_t k0, int64_t k1,
               int64_t K) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  // Whole blocks of 8 rows, 8 columns at a time, as transposes (row by row, every store 32 bytes
  // from the last, this took 3-4% of a training step); what is left over, value by value.
  static const bool vector = simd::cpu_has_avx2();
  if (vector && k1 - k0 >= 8) {
    const int64_t full = B / kRows * kRows, k8 = k0 + (k1 - k0) / 8 * 8;
    for (int64_t b = 0; b < full; b += kRows) {
      float* block = dst + b * K;
      for (int64_t k = k0; k < k8; k += 8) transpose8(block + k * kRows, src + b * ld + k, ld);
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t k = k8; k < k1; ++k) block[k * kRows + r] = src[(b + r) * ld + k];
    }
    src += full * ld;
    dst += full * K;
    B -= full;
  }
#endif
  for (int64_t b = 0; b < B; ++b) {
    const float* row = src + b * ld;
    float* out = dst + (b / kRows) * K * kRows + b % kRows;
    for (int64_t k = k0; k < k1; ++k) out[k * kRows] = row[k];
  }
}

#ifdef SEQTORCH_HAVE_AVX2_VARIANT
namespace {

// M rows x 32 columns in 2M AVX-512 accumulators; each step of k loads the panel's two vectors
// once and broadcasts one value of each row. Inlined into the kernels below, which differ only
// in where they store the tile.
template <int M>
__attribute__((target("avx512f"), always_inline)) inline void accumulate(const float* a,
                                                                         const float* panel,
                                                                         int64_t K, __m512* lo,
                                                                         __m512* hi) {
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
}

// The tile stored at out (row stride ld) plus the bias, or added to out's values (bias == out);
// `lo_mask` and `hi_mask` select the columns written.
template <int M>
__attribute__((target("avx512f"))) void tile_rows_to(const float* a, const float* panel,
                                                     int64_t K, const float* bias, float* out,
                                                     int64_t ld, __mmask16 lo_mask,
                                                     __mmask16 hi_mask) {
  __m512 lo[M], hi[M];
  accumulate<M>(a, panel, K, lo, hi);
  if (bias == out) {
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      float* row = out + r * ld;
      _mm512_mask_storeu_ps(row, lo_mask,
                            _mm512_add_ps(lo[r], _mm512_maskz_loadu_ps(lo_mask, row)));
      _mm512_mask_storeu_ps(row + 16, hi_mask,
                            _mm512_add_ps(hi[r], _mm512_maskz_loadu_ps(hi_mask, row + 16)));
    }
    return;
  }
  const __m512 c0 = bias != nullptr ? _mm512_maskz_loadu_ps(lo_mask, bias) : _mm512_setzero_ps();
  const __m512 c1 =
      bias != nullptr ? _mm512_maskz_loadu_ps(hi_mask, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) {
    _mm512_mask_storeu_ps(out + r * ld, lo_mask, _mm512_add_ps(lo[r], c0));
    _mm512_mask_storeu_ps(out + r * ld + 16, hi_mask, _mm512_add_ps(hi[r], c1));
  }
}

// The tile's four 8-column quarters (one gate's units each) stored gate_stride apart. AVX-512 F
// only (no VL): each register's two halves by masked 16-lane stores, the upper one from 8 floats
// before its destination (masked-off lanes are neither read nor written).
template <int M>
__attribute__((target("avx512f"))) void tile_rows_gates4(const float* a, const float* panel,
                                                         int64_t K, float* out, int64_t ld,
                                                         int64_t gate_stride, int64_t units) {
  __m512 lo[M], hi[M];
  accumulate<M>(a, panel, K, lo, hi);
  const __mmask16 low = static_cast<__mmask16>(units >= 8 ? 0xFF : (1u << units) - 1),
                  high = static_cast<__mmask16>(low << 8);
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) {
    float* row = out + r * ld;
    _mm512_mask_storeu_ps(row, low, lo[r]);
    _mm512_mask_storeu_ps(row + gate_stride - 8, high, lo[r]);
    _mm512_mask_storeu_ps(row + 2 * gate_stride, low, hi[r]);
    _mm512_mask_storeu_ps(row + 3 * gate_stride - 8, high, hi[r]);
  }
}

// f(std::integral_constant<int, rows>) for rows 1 ... 8.
template <typename F>
void by_rows(int64_t rows, F&& f) {
  switch (rows) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

}  // namespace
#endif

void tile_to(const float* a, const float* panel, int64_t K, int64_t rows, int64_t cols,
             const float* bias, float* out, int64_t ld) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  const auto mask = [](int64_t n) {
    return static_cast<__mmask16>(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
  };
  const __mmask16 lo = mask(cols), hi = mask(cols - 16);
  by_rows(rows, [&](auto m) {
    tile_rows_to<decltype(m)::value>(a, panel, K, bias, out, ld, lo, hi);
  });
#else
  (void)a, (void)panel, (void)K, (void)rows, (void)cols, (void)bias, (void)out, (void)ld;
#endif
}

void tile_to_gates4(const float* a, const float* panel, int64_t K, int64_t rows, int64_t units,
                    float* out, int64_t ld, int64_t gate_stride) {
#ifdef SEQTORCH_HAVE_AVX2_VARIANT
  by_rows(rows, [&](auto m) {
    tile_rows_gates4<decltype(m)::value>(a, panel, K, out, ld, gate_stride, units);
  });
#else
  (void)a, (void)panel, (void)K, (void)rows, (void)units, (void)out, (void)ld, (void)gate_stride;
#endif
}

void tile(const float* a, const float* panel, int64_t K, int64_t rows, float* out) {
  tile_to(a, panel, K, rows, kColumns, nullptr, out, kColumns);
}

}  // namespace seqtorch::nn::step_gemm
