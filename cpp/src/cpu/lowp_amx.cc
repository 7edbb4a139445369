// The GEMMs on AMX tiles. int8: one TDPBUSD multiplies a 16 x 64 tile of uint8 activations by a
// 16 x 64 tile of int8 weights into 16 x 16 int32 sums, 16384 multiply-adds; bf16: TDPBF16PS
// does the same with 16 x 32 bfloat16 tiles into float32 sums. The packed panel layouts are
// already AMX's B tile layout (each 64-byte line: 16 columns' four int8 or two bf16 consecutive
// k), so tiles load straight from the packed weights.
//   int8 takes whole blocks of 16 rows when the reduction is a multiple of 64; the rest runs on
//   AVX-512 VNNI, whose exact integer sums are the same.
//   bf16 takes every row (a partial block through a zero-padded copy) when the reduction is a
//   multiple of 32, so that a row's result never depends on how the rows were split between
//   threads; the tile unit rounds its pair sums in its own order, so its bits differ from the
//   other bf16 variants' (tests/test_lowp_kernels.py bounds the difference).
// Compiled with -mamx-tile -mamx-int8 -mamx-bf16.
#include <cstring>
#include <vector>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_variants.h"

namespace lstmrt {
namespace {

constexpr int64_t kTileRows = 16;
constexpr int64_t kTileK = 64;  // bytes of one tile row: 64 k of uint8, 32 of bf16

// Tiles 0-3 hold C (two row blocks by two panels), 4-5 A, 6-7 B; every tile 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

const TileConfig& tile_config() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.rows[t] = kTileRows;
      c.bytes_per_row[t] = kTileK;
    }
    return c;
  }();
  return config;
}

// C for rows m0..m0+16*RB-1 and panels p0..p0+PB-1, through the int32 sums in `sums`.
template <int RB, int PB>
void amx_block(const LowpGemmArgs& g, int64_t m0, int64_t p0, int32_t* sums) {
  _tile_zero(0);
  if constexpr (PB > 1) _tile_zero(1);
  if constexpr (RB > 1) _tile_zero(2);
  if constexpr (RB > 1 && PB > 1) _tile_zero(3);
  const uint8_t* A = static_cast<const uint8_t*>(g.A) + m0 * g.lda;
  const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
  for (int64_t k = 0; k < g.kp; k += kTileK) {
    _tile_loadd(4, A + k, g.lda);
    _tile_loadd(6, B + k * 16, 64);
    if constexpr (PB > 1) _tile_loadd(7, B + g.panel_bytes + k * 16, 64);
    if constexpr (RB > 1) _tile_loadd(5, A + kTileRows * g.lda + k, g.lda);
    _tile_dpbusd(0, 4, 6);
    if constexpr (PB > 1) _tile_dpbusd(1, 4, 7);
    if constexpr (RB > 1) _tile_dpbusd(2, 5, 6);
    if constexpr (RB > 1 && PB > 1) _tile_dpbusd(3, 5, 7);
  }
  // sums is [32 rows][32 columns] int32.
  constexpr int64_t ld = 32 * 4;
  _tile_stored(0, sums, ld);
  if constexpr (PB > 1) _tile_stored(1, sums + 16, ld);
  if constexpr (RB > 1) _tile_stored(2, sums + 16 * 32, ld);
  if constexpr (RB > 1 && PB > 1) _tile_stored(3, sums + 16 * 32 + 16, ld);
  for (int p = 0; p < PB; ++p) {
    const int64_t col = (p0 + p) * 16;
    if (col >= g.N) break;
    const __mmask16 mask = columns_mask(g.N - col);
    for (int64_t r = 0; r < kTileRows * RB; ++r)
      store_i8_row(g, m0 + r, col, mask, _mm512_loadu_si512(sums + r * 32 + p * 16));
  }
}

void gemm_i8_amx(const LowpGemmArgs& g) {
  const int64_t amx_rows = g.kp % kTileK == 0 ? g.M / kTileRows * kTileRows : 0;
  if (amx_rows > 0) {
    _tile_loadconfig(&tile_config());
    alignas(64) int32_t sums[32 * 32];
    const int64_t panels = (g.N + 15) / 16;
    for (int64_t m0 = 0; m0 < amx_rows; m0 += 2 * kTileRows) {
      const bool two_rows = m0 + 2 * kTileRows <= amx_rows;
      int64_t p = 0;
      for (; p + 2 <= panels; p += 2) {
        if (two_rows) amx_block<2, 2>(g, m0, p, sums);
        else amx_block<1, 2>(g, m0, p, sums);
      }
      if (p < panels) {
        if (two_rows) amx_block<2, 1>(g, m0, p, sums);
        else amx_block<1, 1>(g, m0, p, sums);
      }
    }
    // Tiles back to their initial state: the OS then saves none of them on a context switch,
    // and another library's tile configuration in this thread is not ours to keep.
    _tile_release();
  }
  if (amx_rows < g.M) {
    LowpGemmArgs rest = g;
    rest.M = g.M - amx_rows;
    rest.A = static_cast<const uint8_t*>(g.A) + amx_rows * g.lda;
    rest.a_scale = g.a_scale + amx_rows;
    rest.a_zero = g.a_zero + amx_rows;
    rest.C = g.C + amx_rows * g.ldc;
    lowp_avx512_vnni_i8()(rest);
  }
}

// C for rows m0..m0+rows-1 (rows <= 32, A rows `lda` elements apart from `a`) and panels
// p0..p0+PB-1, through the float sums in `sums`.
template <int RB, int PB>
void amx_bf16_block(const LowpGemmArgs& g, const uint16_t* a, int64_t lda, int64_t m0, int64_t rows, int64_t p0,
                    float* sums) {
  _tile_zero(0);
  if constexpr (PB > 1) _tile_zero(1);
  if constexpr (RB > 1) _tile_zero(2);
  if constexpr (RB > 1 && PB > 1) _tile_zero(3);
  const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
  const int64_t stride = lda * 2;
  for (int64_t k = 0; k < g.kp; k += kTileK / 2) {
    _tile_loadd(4, a + k, stride);
    _tile_loadd(6, B + k * 32, 64);
    if constexpr (PB > 1) _tile_loadd(7, B + g.panel_bytes + k * 32, 64);
    if constexpr (RB > 1) _tile_loadd(5, a + kTileRows * lda + k, stride);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (PB > 1) _tile_dpbf16ps(1, 4, 7);
    if constexpr (RB > 1) _tile_dpbf16ps(2, 5, 6);
    if constexpr (RB > 1 && PB > 1) _tile_dpbf16ps(3, 5, 7);
  }
  constexpr int64_t ld = 32 * 4;
  _tile_stored(0, sums, ld);
  if constexpr (PB > 1) _tile_stored(1, sums + 16, ld);
  if constexpr (RB > 1) _tile_stored(2, sums + 16 * 32, ld);
  if constexpr (RB > 1 && PB > 1) _tile_stored(3, sums + 16 * 32 + 16, ld);
  for (int p = 0; p < PB; ++p) {
    const int64_t col = (p0 + p) * 16;
    if (col >= g.N) break;
    const __mmask16 mask = columns_mask(g.N - col);
    for (int64_t r = 0; r < rows; ++r) store_row(g, m0 + r, col, mask, _mm512_loadu_ps(sums + r * 32 + p * 16));
  }
}

// Rows m0..m0+rows-1 (rows <= 32) against every panel.
void amx_bf16_rows(const LowpGemmArgs& g, const uint16_t* a, int64_t lda, int64_t m0, int64_t rows, float* sums) {
  const int64_t panels = (g.N + 15) / 16;
  const bool two = rows > kTileRows;
  int64_t p = 0;
  for (; p + 2 <= panels; p += 2) {
    if (two) amx_bf16_block<2, 2>(g, a, lda, m0, rows, p, sums);
    else amx_bf16_block<1, 2>(g, a, lda, m0, rows, p, sums);
  }
  if (p < panels) {
    if (two) amx_bf16_block<2, 1>(g, a, lda, m0, rows, p, sums);
    else amx_bf16_block<1, 1>(g, a, lda, m0, rows, p, sums);
  }
}

// A partial block's rows, zero-padded to whole tiles; grown once per thread.
thread_local std::vector<uint16_t> padded_rows;

void gemm_bf16_amx(const LowpGemmArgs& g) {
  if (g.kp % (kTileK / 2) != 0) return lowp_avx512_bf16_bf16()(g);
  _tile_loadconfig(&tile_config());
  alignas(64) float sums[32 * 32];
  const uint16_t* A = static_cast<const uint16_t*>(g.A);
  const int64_t whole = g.M / (2 * kTileRows) * (2 * kTileRows);
  for (int64_t m0 = 0; m0 < whole; m0 += 2 * kTileRows) amx_bf16_rows(g, A + m0 * g.lda, g.lda, m0, 2 * kTileRows, sums);
  if (whole < g.M) {
    const int64_t rows = g.M - whole;
    const int64_t tiles = rows > kTileRows ? 2 : 1;
    padded_rows.assign(static_cast<size_t>(tiles * kTileRows * g.kp), 0);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(padded_rows.data() + r * g.kp, A + (whole + r) * g.lda, static_cast<size_t>(g.kp) * 2);
    amx_bf16_rows(g, padded_rows.data(), g.kp, whole, rows, sums);
  }
  _tile_release();
}

}  // namespace

LowpGemmFn lowp_amx_i8() { return &gemm_i8_amx; }
LowpGemmFn lowp_amx_bf16() { return &gemm_bf16_amx; }

}  // namespace lstmrt
