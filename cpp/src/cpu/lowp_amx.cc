// The int8 GEMM on AMX tiles: one TDPBUSD multiplies a 16 x 64 tile of uint8 activations by a
// 16 x 64 tile of int8 weights into 16 x 16 int32 sums, 16384 multiply-adds. The int8 panel
// layout is already AMX's B tile layout (each 64-byte line: 16 columns' four consecutive k), so
// tiles load straight from the packed weights. AMX takes whole blocks of 16 rows when the
// reduction is a multiple of 64; the rest (few rows, other lengths) runs on AVX-512 VNNI, which
// gives the same exact integer sums. Compiled with -mamx-tile -mamx-int8.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_variants.h"

namespace lstmrt {
namespace {

constexpr int64_t kTileRows = 16;
constexpr int64_t kTileK = 64;  // bytes of one tile row: 64 k of uint8

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

}  // namespace

LowpGemmFn lowp_amx_i8() { return &gemm_i8_amx; }

}  // namespace lstmrt
