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

// The four tile products of a 2 x 2 block: C tiles 0-3 from A tiles 4-5 and B tiles 6-7. The
// intrinsics are macros that paste the tile numbers into the instruction, so they are literals.
#define LSTMRT_TILE_PRODUCTS(INSTRUCTION)    \
  static void dot0() { INSTRUCTION(0, 4, 6); } \
  static void dot1() { INSTRUCTION(1, 4, 7); } \
  static void dot2() { INSTRUCTION(2, 5, 6); } \
  static void dot3() { INSTRUCTION(3, 5, 7); }

// What differs between the int8 and bf16 tiles: the dot-product instruction, the bytes of one k,
// and how a row of sums becomes C.
struct Int8Tiles {
  using Sum = int32_t;
  static constexpr int64_t kBytesPerK = 1;
  LSTMRT_TILE_PRODUCTS(_tile_dpbusd)
  static void store(const LowpGemmArgs& g, int64_t m, int64_t col, __mmask16 mask, const int32_t* sums) {
    store_i8_row(g, m, col, mask, _mm512_loadu_si512(sums));
  }
};

struct Bf16Tiles {
  using Sum = float;
  static constexpr int64_t kBytesPerK = 2;
  LSTMRT_TILE_PRODUCTS(_tile_dpbf16ps)
  static void store(const LowpGemmArgs& g, int64_t m, int64_t col, __mmask16 mask, const float* sums) {
    store_row(g, m, col, mask, _mm512_loadu_ps(sums));
  }
};

// C for `rows` rows (at most 16 * RB) from m0, whose A rows start at `a` and lie `lda` elements
// apart, and panels p0..p0+PB-1, through the [32][32] sums in `sums`.
template <class T, int RB, int PB>
void amx_block(const LowpGemmArgs& g, const void* a, int64_t lda, int64_t m0, int64_t rows, int64_t p0,
               typename T::Sum* sums) {
  _tile_zero(0);
  if constexpr (PB > 1) _tile_zero(1);
  if constexpr (RB > 1) _tile_zero(2);
  if constexpr (RB > 1 && PB > 1) _tile_zero(3);
  const char* A = static_cast<const char*>(a);
  const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
  const int64_t stride = lda * T::kBytesPerK;
  // One tile row is 64 bytes of k; a panel's k-groups are 64 bytes per group of 64 / 16 bytes.
  for (int64_t kb = 0; kb < g.kp * T::kBytesPerK; kb += kTileK) {
    _tile_loadd(4, A + kb, stride);
    _tile_loadd(6, B + kb * 16, 64);
    if constexpr (PB > 1) _tile_loadd(7, B + g.panel_bytes + kb * 16, 64);
    if constexpr (RB > 1) _tile_loadd(5, A + kTileRows * stride + kb, stride);
    T::dot0();
    if constexpr (PB > 1) T::dot1();
    if constexpr (RB > 1) T::dot2();
    if constexpr (RB > 1 && PB > 1) T::dot3();
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
    for (int64_t r = 0; r < rows; ++r) T::store(g, m0 + r, col, mask, sums + r * 32 + p * 16);
  }
}

// Rows m0..m0+rows-1 (rows <= 32) against every panel, two panels at a time.
template <class T>
void amx_rows(const LowpGemmArgs& g, const void* a, int64_t lda, int64_t m0, int64_t rows, typename T::Sum* sums) {
  const int64_t panels = (g.N + 15) / 16;
  const bool two = rows > kTileRows;
  int64_t p = 0;
  for (; p + 2 <= panels; p += 2) {
    if (two) amx_block<T, 2, 2>(g, a, lda, m0, rows, p, sums);
    else amx_block<T, 1, 2>(g, a, lda, m0, rows, p, sums);
  }
  if (p < panels) {
    if (two) amx_block<T, 2, 1>(g, a, lda, m0, rows, p, sums);
    else amx_block<T, 1, 1>(g, a, lda, m0, rows, p, sums);
  }
}

void gemm_i8_amx(const LowpGemmArgs& g) {
  const int64_t tiled = g.kp % kTileK == 0 ? g.M / kTileRows * kTileRows : 0;
  if (tiled > 0) {
    _tile_loadconfig(&tile_config());
    alignas(64) int32_t sums[32 * 32];
    const uint8_t* A = static_cast<const uint8_t*>(g.A);
    for (int64_t m0 = 0; m0 < tiled; m0 += 2 * kTileRows) {
      const int64_t rows = tiled - m0 < 2 * kTileRows ? tiled - m0 : 2 * kTileRows;
      amx_rows<Int8Tiles>(g, A + m0 * g.lda, g.lda, m0, rows, sums);
    }
    // Tiles back to their initial state: the OS then saves none of them on a context switch,
    // and another library's tile configuration in this thread is not ours to keep.
    _tile_release();
  }
  if (tiled < g.M) {
    LowpGemmArgs rest = g;
    rest.M = g.M - tiled;
    rest.A = static_cast<const uint8_t*>(g.A) + tiled * g.lda;
    rest.a_scale = g.a_scale + tiled;
    rest.a_zero = g.a_zero + tiled;
    rest.C = g.C + tiled * g.ldc;
    lowp_avx512_vnni_i8()(rest);
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
  for (int64_t m0 = 0; m0 < whole; m0 += 2 * kTileRows) amx_rows<Bf16Tiles>(g, A + m0 * g.lda, g.lda, m0, 2 * kTileRows, sums);
  if (whole < g.M) {
    const int64_t rows = g.M - whole;
    const int64_t tiles = rows > kTileRows ? 2 : 1;
    padded_rows.assign(static_cast<size_t>(tiles * kTileRows * g.kp), 0);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(padded_rows.data() + r * g.kp, A + (whole + r) * g.lda, static_cast<size_t>(g.kp) * 2);
    amx_rows<Bf16Tiles>(g, padded_rows.data(), g.kp, whole, rows, sums);
  }
  _tile_release();
}

}  // namespace

LowpGemmFn lowp_amx_i8() { return &gemm_i8_amx; }
LowpGemmFn lowp_amx_bf16() { return &gemm_bf16_amx; }

}  // namespace lstmrt
