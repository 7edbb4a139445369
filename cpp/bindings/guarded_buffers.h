// Buffers for the kernel tests that end exactly at an unreadable page, so that a kernel reading
// or writing past the end of an array crashes the test instead of passing by luck.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "bindings.h"
#include "cpu/packed_matrix.h"

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define LSTMRT_GUARD_PAGES 1
#endif

namespace lstmrt {

class GuardedFloats {
 public:
  explicit GuardedFloats(size_t count) : count_(count) {
#if LSTMRT_GUARD_PAGES
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = count * sizeof(float);
    const size_t body = (bytes + page_ - 1) / page_ * page_;
    total_ = body + page_;
    void* base = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<char*>(base);
    mprotect(base_ + body, page_, PROT_NONE);
    data_ = reinterpret_cast<float*>(base_ + body - bytes);
#else
    fallback_.reset(new float[count + 1]);
    data_ = fallback_.get();
#endif
  }
  ~GuardedFloats() {
#if LSTMRT_GUARD_PAGES
    munmap(base_, total_);
#endif
  }
  GuardedFloats(const GuardedFloats&) = delete;
  GuardedFloats& operator=(const GuardedFloats&) = delete;
  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return count_; }

 private:
  size_t count_;
  float* data_ = nullptr;
#if LSTMRT_GUARD_PAGES
  char* base_ = nullptr;
  size_t page_ = 0, total_ = 0;
#else
  std::unique_ptr<float[]> fallback_;
#endif
};

inline std::unique_ptr<GuardedFloats> guarded_copy(const float* src, size_t n) {
  auto g = std::make_unique<GuardedFloats>(n);
  if (n) std::memcpy(g->data(), src, n * sizeof(float));
  return g;
}

// A NumPy copy of a kernel's result in a guarded buffer, of shape `shape` (its elements, in order).
inline py::array_t<float> result_array(const GuardedFloats& g, std::vector<py::ssize_t> shape) {
  py::array_t<float> out(shape);
  if (out.size()) std::memcpy(out.mutable_data(), g.data(), static_cast<size_t>(out.size()) * sizeof(float));
  return out;
}

// W [N, K] packed for the GEMM kernels, in a guarded buffer.
inline std::unique_ptr<GuardedFloats> guarded_packed(const FloatArray& W) {
  const int64_t N = W.shape(0), K = W.shape(1);
  const PackedMatrix packed(W.data(), N, K, K);
  return guarded_copy(packed.panel(0), static_cast<size_t>(packed.panels() * K * kPanelWidth));
}

}  // namespace lstmrt
