#include "cpu/aligned_buffer.h"

#include <new>

namespace lstmrt {

void* aligned_alloc_bytes(size_t bytes) noexcept {
  return ::operator new(aligned_size(bytes), std::align_val_t(kBufferAlignment), std::nothrow);
}

void aligned_free(void* p) noexcept {
  if (p) ::operator delete(p, std::align_val_t(kBufferAlignment));
}

}  // namespace lstmrt
