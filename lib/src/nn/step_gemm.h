#pragma once
// Private to the library: the recurrent kernel's per-step product with the recurrent weights
// packed once per layer call (OpenBLAS re-packs its operand at every step) and computed in
// AVX-512 tiles of up to 8 rows x 32 columns. Packed panels hold 32 columns of the product's
// right-hand side, K rows each, contiguous and 64-byte aligned. The left-hand side is packed
// too, in blocks of 8 rows stored column by column ([K][8] per block), so that a tile reads it
// as one stream (from its rows in place, 8 strided streams, the tiles ran 20-40% slower).
#include <cstdint>

namespace seqtorch::nn::step_gemm {

constexpr int64_t kColumns = 32;  // columns per panel and per tile
constexpr int64_t kRows = 8;      // rows per tile

/// Whether the CPU runs the tiles (AVX-512 F; checked once).
bool available();

/// Forward panels of h W^T for W [G, H] (row-major, G = gates x H): panel p holds, for each gate
/// q, the rows q H + p u ... q H + p u + u - 1 of W as columns (u = units_per_panel(G / H));
/// columns past the last unit are zero. Writes H x 32 floats to `panel`.
int64_t units_per_panel(int64_t gates);
void pack_forward_panel(float* panel, const float* w, int64_t gates, int64_t H, int64_t p);

/// Backward panels of d W for W [G, H]: the panel starting at unit j0 holds columns j0 ...
/// j0 + 31 of W (those at or past j1 zero). Writes G x 32 floats to `panel`.
void pack_backward_panel(float* panel, const float* w, int64_t G, int64_t H, int64_t j0,
                         int64_t j1);

/// Copies columns k0 ... k1-1 of the B rows of src (row stride ld) into the packed layout of a
/// left-hand side with K columns: row b, column k at dst[((b / 8) K + k) 8 + b % 8].
void pack_rows(float* dst, const float* src, int64_t ld, int64_t B, int64_t k0, int64_t k1,
               int64_t K);

/// out[r][c] = sum_k block[k 8 + r] panel[k 32 + c] for r < rows (1 ... 8), c < 32: block is
/// one packed block of 8 rows of the left-hand side; out is rows x 32, row stride 32.
void tile(const float* block, const float* panel, int64_t K, int64_t rows, float* out);

/// Panel of a product x W^T for W [N, K] (row-major, row stride ld): panel[k 32 + c] =
/// w[(c0 + c) ld + k] for c < n (1 ... 32), zero for the columns after. Writes K x 32 floats.
void pack_row_panel(float* panel, const float* w, int64_t ld, int64_t K, int64_t c0, int64_t n);

/// As tile, but written in place: out[r ld + c] = sum_k block[k 8 + r] panel[k 32 + c] +
/// bias[c] (bias may be null) for r < rows, c < cols (1 ... 32); nothing else is touched.
/// With bias == out, each row's own values are added instead (out[r ld + c] += the sum).
void tile_to(const float* block, const float* panel, int64_t K, int64_t rows, int64_t cols,
             const float* bias, float* out, int64_t ld);

/// As tile_to for a forward panel of 4 gates (u = 8 units each), each gate's 8 columns stored
/// apart: out[r ld + q gate_stride + i] = column q 8 + i of the tile, for i < units (1 ... 8).
void tile_to_gates4(const float* block, const float* panel, int64_t K, int64_t rows,
                    int64_t units, float* out, int64_t ld, int64_t gate_stride);

}  // namespace seqtorch::nn::step_gemm
