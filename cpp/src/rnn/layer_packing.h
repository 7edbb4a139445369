// A layer's weights packed for its threads: the hidden units split into partitions, each with its
// own rows of W and R, biases and peepholes.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/packed_matrix.h"
#include "lstmrt/rnn_layer.h"

namespace lstmrt {

// The hidden units j0 .. j0 + units of one direction, with everything a thread needs to compute
// every gate of them. Its rows of W and R are packed gate by gate (its i units, then its o units,
// ...), so that its thread runs one GEMM for all of them and keeps its share of R in its own
// cache for the whole sequence.
struct Partition {
  int64_t j0 = 0;      // first hidden unit
  int64_t units = 0;   // number of hidden units
  PackedMatrix w;      // [G*units, input]
  PackedMatrix r;      // [G*units, H] (GRU with linear_before_reset=0: [2*units, H], z and r)
  PackedMatrix r_h;    // GRU with linear_before_reset=0: the h gate's [units, H]
  AlignedBuffer bias;  // [G*units], added to X·Wᵀ (see pack_partitions for which biases)
  AlignedBuffer rb_h;  // GRU with linear_before_reset=1: Rbh [units], applied inside r ⊙ (...)
  AlignedBuffer peephole;  // LSTM: [3*units] in order i, o, f, or null
};

// [direction][partition]
using PartitionSet = std::vector<std::vector<Partition>>;

// What RnnLayer hides behind its pointer: the split for threads, and for a small layer a whole
// copy (one partition per direction) for the calls that run on one thread.
struct RnnLayer::Packed {
  PartitionSet split;
  PartitionSet whole;  // empty unless kept
};

// The first hidden unit of partition p of `parts`: on a multiple of the panel width (16 floats,
// one AVX-512 vector), so that every partition but the last runs whole vectors.
int64_t partition_start(int64_t H, int p, int parts);

// Where the recurrent product of one row splits its sum in two (KernelTable::recurrent_gemv):
// the first unit of the second partition of a 2-way split, whatever split a call runs with.
int64_t recurrent_sum_split(int64_t H);

// The most partitions a layer of `hidden` units is split into: one per panel width of units.
int64_t max_partitions(int64_t hidden);

// Packs `layer`'s W, R, B and P (already checked against it) into `parts` partitions per
// direction, in the layer's weight type.
PartitionSet pack_partitions(const RnnLayer& layer, const FloatArg& W, const FloatArg& R, const FloatArg& B,
                             const FloatArg& P, int parts);

}  // namespace lstmrt
