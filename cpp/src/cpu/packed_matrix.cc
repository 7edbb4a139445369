#include "lstmrt/packed_matrix.h"

#include <cstdlib>
#include <cstring>
#include <new>
#if defined(_MSC_VER)
#include <malloc.h>
#endif

namespace lstmrt {

void AlignedDeleter::operator()(float* p) const {
#if defined(_MSC_VER)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

AlignedBuffer aligned_alloc_floats(size_t count) {
  // Round up to whole cache lines (aligned_alloc requires a multiple of the alignment), and
  // allocate at least one line so that the pointer is never null.
  size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  void* p = nullptr;
#if defined(_MSC_VER)
  p = _aligned_malloc(bytes, 64);
#else
  if (posix_memalign(&p, 64, bytes) != 0) p = nullptr;
#endif
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return AlignedBuffer(static_cast<float*>(p));
}

PackedMatrix::PackedMatrix(const float* w, int64_t n, int64_t k, int64_t ldw) : n_(n), k_(k) {
  const int64_t np = panels();
  capacity_ = static_cast<size_t>(np * k * kPanelWidth);
  data_ = aligned_alloc_floats(capacity_);
  float* out = data_.get();
  for (int64_t p = 0; p < np; ++p) {
    for (int64_t j = 0; j < kPanelWidth; ++j) {
      const int64_t row = p * kPanelWidth + j;
      if (row >= n) break;  // the rest of the panel stays zero
      const float* src = w + row * ldw;
      float* dst = out + p * k * kPanelWidth + j;
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * kPanelWidth] = src[kk];
    }
  }
}

void PackedMatrix::resize(int64_t n, int64_t k) {
  const size_t need = static_cast<size_t>((n + kPanelWidth - 1) / kPanelWidth * k * kPanelWidth);
  if (need > capacity_) {
    data_ = aligned_alloc_floats(need);
    capacity_ = need;
  }
  n_ = n;
  k_ = k;
}

}  // namespace lstmrt
