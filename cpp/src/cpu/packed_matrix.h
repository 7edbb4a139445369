// Weights packed once into the layout the GEMM kernels stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "lstmrt/weight_type.h"

namespace lstmrt {

// Column panels of this many output columns are packed together. The width is the same for every
// ISA (one AVX-512 vector, two AVX2 vectors), so one packing serves every kernel path and the
// path can change at run time without repacking.
constexpr int64_t kPanelWidth = 16;

struct AlignedDeleter {
  void operator()(float* p) const;
};
using AlignedBuffer = std::unique_ptr<float[], AlignedDeleter>;
// A zero-filled float buffer aligned to 64 bytes (one cache line, one AVX-512 vector).
AlignedBuffer aligned_alloc_floats(size_t count);

// B = Wᵀ for a row-major W[N][K], stored as ceil(N/16) panels of 16 columns, zero where a column
// is past N. For float32, panel p holds for each k the 16 values W[16p + j][k] (j = 0..15): one
// aligned vector load per k. For the low-precision types, K is padded with zeros to a multiple
// of k_group(type) and each k-group is stored column by column: per group g, the 16 columns'
// k_group values W[16p + j][g*kg + e] (e = 0..kg-1) side by side, one 64-byte line per group,
// which is what one VDPBF16PS (pairs) or VPDPBUSD (quads) consumes.
//   bf16: round to nearest even, subnormals flushed to zero (as the dot-product instructions do).
//   int8: per column n, scale[n] = max_k |W[n][k]| / 127 and q = round(W / scale[n]) in
//         [-127, 127]; column_sums()[n] = sum_k q, which the GEMM needs to remove the activations'
//         zero point. A column of zeros has scale 1.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  // Packs the n x k matrix W whose rows are `ldw` floats apart. For int8, a NaN or infinite
  // weight cannot be scaled: ValueError naming its row and column.
  PackedMatrix(const float* w, int64_t n, int64_t k, int64_t ldw, WeightType type = WeightType::F32);

  // Makes this an n x k float32 matrix to be filled in place through mutable_panel() (contents
  // unspecified), keeping the buffer when it is large enough: a Conv packs each block of its
  // unrolled input here, run after run.
  void resize(int64_t n, int64_t k);
  float* mutable_panel(int64_t p) { return data_.get() + p * k_ * kPanelWidth; }

  WeightType type() const { return type_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  // K rounded up to the type's k-group, or to a whole AMX tile row where that adds at most a
  // quarter: the length of the reduction the kernels run (the padding is zeros).
  int64_t k_padded() const { return kp_; }
  int64_t panels() const { return (n_ + kPanelWidth - 1) / kPanelWidth; }
  // Float32 panels only.
  const float* panel(int64_t p) const { return data_.get() + p * k_ * kPanelWidth; }
  // Bytes from one panel to the next, and panel p of any type.
  int64_t panel_bytes() const;
  const void* panel_data(int64_t p) const;
  // int8: the scale of each column and the sum of its quantized weights, 16 per panel.
  const float* scales() const { return scales_.get(); }
  const int32_t* column_sums() const { return reinterpret_cast<const int32_t*>(sums_.get()); }
  // int8: the largest share, over the columns, of a column's nonzero weights that round to 0
  // (0 for the other types). A column whose scale a few huge outliers set loses the rest so.
  double lost_weight_fraction() const { return lost_fraction_; }
  bool empty() const { return n_ == 0; }

 private:
  void pack_f32(const float* w, int64_t ldw);
  void pack_bf16(const float* w, int64_t ldw);
  void pack_i8(const float* w, int64_t ldw);

  WeightType type_ = WeightType::F32;
  int64_t n_ = 0;
  int64_t k_ = 0;
  int64_t kp_ = 0;
  size_t capacity_ = 0;  // floats in data_
  AlignedBuffer data_;
  AlignedBuffer scales_;
  AlignedBuffer sums_;  // int32 values
  double lost_fraction_ = 0.0;
};

}  // namespace lstmrt
