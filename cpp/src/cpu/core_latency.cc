#include "cpu/core_latency.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "lstmrt/errors.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace lstmrt {

#if defined(__linux__)
namespace {

bool pin_current_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

}  // namespace

double core_to_core_ns(int cpu_a, int cpu_b, int64_t round_trips) {
  if (round_trips < 1) throw ValueError("core_to_core_ns: round_trips must be positive");
  // On one CPU each trip would wait for the scheduler to switch threads.
  if (cpu_a == cpu_b) throw ValueError("core_to_core_ns: cpu_a and cpu_b must differ");
  cpu_set_t allowed;
  if (pthread_getaffinity_np(pthread_self(), sizeof(allowed), &allowed) != 0)
    throw UnsupportedError("core_to_core_ns: cannot read this thread's CPU affinity");
  for (int cpu : {cpu_a, cpu_b})
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed))
      throw ValueError("core_to_core_ns: CPU " + std::to_string(cpu) + " is not one this process may run on");

  // Each counter on its own cache line: the ping is written only by this thread, the pong only
  // by the other, so every round trip moves each line once in each direction.
  struct alignas(64) Line {
    std::atomic<int64_t> value{0};
  };
  Line ping, pong;
  std::atomic<bool> pinned_ok{true};
  std::thread other([&] {
    if (!pin_current_thread(cpu_b)) pinned_ok.store(false);
    for (int64_t i = 1; i <= round_trips + 1; ++i) {
      while (ping.value.load(std::memory_order_acquire) != i) {
        if (!pinned_ok.load(std::memory_order_relaxed)) return;
      }
      pong.value.store(i, std::memory_order_release);
    }
  });
  const bool pinned = pin_current_thread(cpu_a);
  if (!pinned) pinned_ok.store(false);
  double ns = 0.0;
  if (pinned) {
    // One untimed trip: the other thread then runs where it should.
    ping.value.store(1, std::memory_order_release);
    while (pong.value.load(std::memory_order_acquire) != 1 && pinned_ok.load(std::memory_order_relaxed)) {
    }
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 2; i <= round_trips + 1 && pinned_ok.load(std::memory_order_relaxed); ++i) {
      ping.value.store(i, std::memory_order_release);
      while (pong.value.load(std::memory_order_acquire) != i) {
      }
    }
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    ns = took.count() / static_cast<double>(round_trips) / 2.0;
  }
  other.join();
  pthread_setaffinity_np(pthread_self(), sizeof(allowed), &allowed);
  if (!pinned_ok.load()) throw UnsupportedError("core_to_core_ns: could not pin a thread to its CPU");
  return ns;
}

#else

double core_to_core_ns(int, int, int64_t) {
  throw UnsupportedError("core_to_core_ns: pinning threads to CPUs is only implemented on Linux");
}

#endif

}  // namespace lstmrt
