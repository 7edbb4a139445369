// Runs a sequence of phases (one per timestep, or two for a GRU with linear_before_reset=0),
// each made of the same P partitions, on a small team of threads.
//
// Each thread first claims its home partitions (p = member, member + team, ...), so in the normal
// case every partition's weights stay in one core's cache for the whole sequence, as with static
// ownership and a barrier. A thread that has finished waits for the phase to complete; if a
// partition is still unclaimed after a grace period (its owner was descheduled: the machine is
// oversubscribed), the waiting thread claims and runs it itself. A late thread finds its work
// done and catches up, so a descheduled worker costs at most the grace period per phase instead
// of a whole scheduler time slice.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define LSTMRT_PAUSE() _mm_pause()
#else
#define LSTMRT_PAUSE() ((void)0)
#endif

namespace lstmrt {

class PhaseScheduler {
 public:
  PhaseScheduler(int parts, int team) : parts_(parts), team_(team), claimed_(new std::atomic<int64_t>[parts]) {
    for (int p = 0; p < parts; ++p) claimed_[p].store(-1, std::memory_order_relaxed);
  }

  // Runs fn(p) for the partitions of `phase` (phases are numbered 0, 1, 2, ... and every member
  // calls every phase in order); returns when all partitions of the phase are done.
  template <class Fn>
  void run_phase(int64_t phase, int member, Fn&& fn) {
    for (int p = member; p < parts_; p += team_)
      if (claim(p, phase)) finish(p, fn);
    if (team_ <= 1) return;
    const int64_t target = (phase + 1) * parts_;
    const auto start = std::chrono::steady_clock::now();
    bool may_steal = false;
    for (unsigned spins = 1; done_.load(std::memory_order_acquire) < target; ++spins) {
      if (may_steal) {
        for (int p = 0; p < parts_; ++p)
          if (claimed_[p].load(std::memory_order_relaxed) == phase - 1 && claim(p, phase)) finish(p, fn);
        std::this_thread::yield();
      } else {
        LSTMRT_PAUSE();
        if ((spins & 255) == 0) may_steal = std::chrono::steady_clock::now() - start > kGrace;
      }
    }
  }

 private:
  static constexpr std::chrono::microseconds kGrace{30};

  bool claim(int p, int64_t phase) {
    int64_t expected = phase - 1;
    return claimed_[p].compare_exchange_strong(expected, phase, std::memory_order_acq_rel);
  }
  template <class Fn>
  void finish(int p, Fn& fn) {
    fn(p);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }

  const int parts_;
  const int team_;
  std::unique_ptr<std::atomic<int64_t>[]> claimed_;
  alignas(64) std::atomic<int64_t> done_{0};
};

}  // namespace lstmrt
