// Weights packed once into the layout the GEMM kernels stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

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

// B = Wᵀ for a row-major W[N][K], stored as ceil(N/16) panels; panel p holds, for each k, the
// 16 values W[16p + j][k] (j = 0..15), zero where 16p + j >= N. A GEMM then reads each panel
// front to back with one aligned vector load per k.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  // Packs rows [row_begin, row_begin + n) of W, whose rows are `ldw` floats apart.
  PackedMatrix(const float* w, int64_t n, int64_t k, int64_t ldw);

  // Makes this an n x k matrix to be filled in place through mutable_panel() (contents
  // unspecified), keeping the buffer when it is large enough: a Conv packs each block of its
  // unrolled input here, run after run.
  void resize(int64_t n, int64_t k);
  float* mutable_panel(int64_t p) { return data_.get() + p * k_ * kPanelWidth; }

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t panels() const { return (n_ + kPanelWidth - 1) / kPanelWidth; }
  const float* panel(int64_t p) const { return data_.get() + p * k_ * kPanelWidth; }
  bool empty() const { return n_ == 0; }

 private:
  int64_t n_ = 0;
  int64_t k_ = 0;
  size_t capacity_ = 0;  // floats in data_
  AlignedBuffer data_;
};

}  // namespace lstmrt
