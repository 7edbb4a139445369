#include "lstmrt/threading.h"

#include <cstdlib>
#include <thread>

#if defined(__SSE__) || defined(_M_X64) || defined(__x86_64__)
#include <xmmintrin.h>
#define LSTMRT_HAS_MXCSR 1
#endif

namespace lstmrt {

int default_num_threads() {
  if (const char* env = std::getenv("LSTMRT_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
#if LSTMRT_HAVE_OPENMP
  // omp_get_num_procs honours the CPU affinity mask (taskset, containers).
  const int procs = omp_get_num_procs();
  if (procs > 0) return procs;
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int resolve_threads(int requested) { return requested > 0 ? requested : default_num_threads(); }

ScopedFlushDenormals::ScopedFlushDenormals() {
#if LSTMRT_HAS_MXCSR
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
#endif
}

ScopedFlushDenormals::~ScopedFlushDenormals() {
#if LSTMRT_HAS_MXCSR
  _mm_setcsr(saved_);
#endif
}

}  // namespace lstmrt
