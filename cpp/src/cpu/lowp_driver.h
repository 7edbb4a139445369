// The loop over tiles shared by every low-precision GEMM variant (lowp_*.cc). A variant supplies
// a Tile type with `template <int MR, int NP> void run(const LowpGemmArgs&, int64_t m0,
// int64_t p0) const`, which computes rows m0..m0+MR-1 of C for panels p0..p0+NP-1 (the last
// panel may be partial: the tile stores only columns below N). Each including file instantiates
// its own copy (anonymous namespace), compiled with that file's ISA flags.
#pragma once

#include <cstdint>

#include "cpu/kernels.h"

namespace lstmrt {
namespace {

// Row count fixed at compile time so that the accumulators stay in registers; a partial row
// block runs the instantiation of its height.
template <int NP, int MR, class Tile>
inline void lowp_rows(const Tile& tile, const LowpGemmArgs& g, int64_t rows, int64_t m0, int64_t p0) {
  if constexpr (MR > 0) {
    if (rows == MR) return tile.template run<MR, NP>(g, m0, p0);
    return lowp_rows<NP, MR - 1>(tile, g, rows, m0, p0);
  }
}

// Rows in blocks whose part of A (~64 KiB) stays in cache while every panel of B streams past;
// within a block, NP panels by MR rows at a time. One row (a recurrent step at batch 1) takes
// NP_GEMV panels at a time for more independent accumulators.
template <int MR, int NP, int NP_GEMV, class Tile>
void lowp_gemm_drive(const Tile& tile, const LowpGemmArgs& g) {
  const int64_t panels = (g.N + 15) / 16;
  if (g.M == 1) {
    int64_t p = 0;
    for (; p + NP_GEMV <= panels; p += NP_GEMV) tile.template run<1, NP_GEMV>(g, 0, p);
    for (; p < panels; ++p) tile.template run<1, 1>(g, 0, p);
    return;
  }
  const int64_t row_bytes = g.kp > 0 ? g.kp * 2 : 1;
  int64_t block = (65536 / row_bytes) / MR * MR;
  if (block < MR) block = MR;
  for (int64_t m0 = 0; m0 < g.M; m0 += block) {
    const int64_t m1 = g.M - m0 < block ? g.M : m0 + block;
    int64_t p = 0;
    for (; p + NP <= panels; p += NP)
      for (int64_t m = m0; m < m1; m += MR) lowp_rows<NP, MR>(tile, g, m1 - m < MR ? m1 - m : MR, m, p);
    for (; p < panels; ++p)
      for (int64_t m = m0; m < m1; m += MR) lowp_rows<1, MR>(tile, g, m1 - m < MR ? m1 - m : MR, m, p);
  }
}

}  // namespace
}  // namespace lstmrt
