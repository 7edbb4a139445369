// A barrier for a small team of threads that meet once per timestep.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define LSTMRT_PAUSE() _mm_pause()
#else
#define LSTMRT_PAUSE() ((void)0)
#endif

namespace lstmrt {

// Threads spin on a generation counter: a crossing costs one cache-line transfer (~100 ns)
// where an OpenMP fork/join per step costs microseconds. After a while of spinning a waiter
// yields its core, so that an oversubscribed machine (other processes, other sessions) degrades
// gracefully instead of burning the time slice the late thread needs.
class SpinBarrier {
 public:
  explicit SpinBarrier(int count = 1) : count_(count) {}
  void reset(int count) {
    count_ = count;
    arrived_.store(0, std::memory_order_relaxed);
  }

  void wait() {
    if (count_ <= 1) return;
    const unsigned gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == count_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    for (unsigned spins = 0; generation_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 20000) LSTMRT_PAUSE();
      else std::this_thread::yield();
    }
  }

 private:
  int count_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<unsigned> generation_{0};
};

}  // namespace lstmrt
