#include "lstmrt/threading.h"

#include <atomic>
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

namespace {
std::atomic<int>& threads_in_use() {
  static std::atomic<int> in_use{0};
  return in_use;
}
}  // namespace

ThreadClaim::ThreadClaim(int requested) {
  const int cores = default_num_threads();
  std::atomic<int>& in_use = threads_in_use();
  int current = in_use.load(std::memory_order_relaxed);
  int take;
  do {
    const int free_cores = cores - current;
    take = requested < free_cores ? requested : free_cores;
    if (take < 1) take = 1;  // the caller's own thread always runs
  } while (!in_use.compare_exchange_weak(current, current + take, std::memory_order_acq_rel));
  threads_ = take;
}

ThreadClaim::~ThreadClaim() { threads_in_use().fetch_sub(threads_, std::memory_order_acq_rel); }

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
