// 64-byte aligned memory: the one allocator behind packed weights, layer workspaces and graph
// tensors, so that every buffer a kernel reads starts on a cache line and an AVX-512 vector.
#pragma once

#include <cstddef>

namespace lstmrt {

constexpr size_t kBufferAlignment = 64;

// `bytes` rounded up to whole cache lines, and at least one line, so that even an empty buffer
// has a valid, aligned pointer.
inline size_t aligned_size(size_t bytes) {
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  return rounded == 0 ? kBufferAlignment : rounded;
}

// aligned_size(bytes) bytes, 64-byte aligned and uninitialized, or nullptr when the memory cannot
// be had. Failure is reported as null rather than thrown in every build (a sanitizer's throwing
// allocator aborts instead), so each caller raises the error its users expect.
void* aligned_alloc_bytes(size_t bytes) noexcept;
// Frees what aligned_alloc_bytes returned (nullptr is ignored).
void aligned_free(void* p) noexcept;

}  // namespace lstmrt
