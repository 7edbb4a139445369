#include "cpu/threading.h"

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <utility>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define LSTMRT_HAS_MXCSR 1
#endif

namespace lstmrt {

namespace {

// Physical cores among the CPUs this process may run on (Linux: distinct (package, core) pairs
// of the affinity mask); 0 when unknown. Hyperthreads share a core's FMA units and caches, so a
// second worker per core only adds contention to these kernels.
// The non-negative integer a sysfs file holds, or -1. C stdio rather than iostreams: a process
// whose first-loaded libstdc++ is another build's (a wheel's bundled copy) crashed in the
// iostream locale code here, on a machine where NumPy had loaded first.
int read_int_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  int value = -1;
  if (std::fscanf(f, "%d", &value) != 1) value = -1;
  std::fclose(f);
  return value;
}

int physical_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  std::set<std::pair<int, int>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    const int core_id = read_int_file(base + "core_id"), package_id = read_int_file(base + "physical_package_id");
    if (core_id < 0 || package_id < 0) return 0;
    cores.insert({package_id, core_id});
  }
  return static_cast<int>(cores.size());
#else
  return 0;
#endif
}

}  // namespace

int default_num_threads() {
  // Read once: every call asks (ThreadClaim), and the answer does not change while we run.
  static const int threads = [] {
    if (const char* env = std::getenv("LSTMRT_NUM_THREADS")) {
      const int n = std::atoi(env);
      if (n > 0) return n;
    }
    const int physical = physical_cores();
    if (physical > 0) return physical;
#if defined(__linux__)
    // The affinity mask (taskset, containers) when the topology files are missing.
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
  }();
  return threads;
}

int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

bool move_off_cpu(int cpu) {
#if defined(__linux__)
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  cpu_set_t mask;
  if (pthread_getaffinity_np(pthread_self(), sizeof(mask), &mask) != 0) return false;
  cpu_set_t others = mask;
  CPU_CLR(cpu, &others);
  if (CPU_COUNT(&others) == 0 || sched_getcpu() != cpu) return false;
  // The kernel moves a thread whose mask excludes the CPU it runs on before the call returns.
  if (pthread_setaffinity_np(pthread_self(), sizeof(others), &others) != 0) return false;
  pthread_setaffinity_np(pthread_self(), sizeof(mask), &mask);
  return true;
#else
  (void)cpu;
  return false;
#endif
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
