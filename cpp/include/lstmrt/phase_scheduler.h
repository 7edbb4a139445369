// Runs a sequence of phases (one per timestep, or two for a GRU with linear_before_reset=0),
// each made of the same P partitions, on a small team of threads.
//
// Each thread first claims its home partitions (p = member, member + team, ...), so in the normal
// case every partition's weights stay in one core's cache for the whole sequence, as with static
// ownership and a barrier. A thread that has finished waits for the phase to complete; if a
// partition is still unclaimed after a grace period (its owner was descheduled: the machine is
// oversubscribed), the waiting thread claims and runs it itself. A thread that then finds its
// home partition taken knows it is the one being descheduled: it leaves the team for the rest of
// the call, and the others adopt its partitions from then on without waiting. So a machine
// busy with other work degrades a call towards the single-thread time, instead of stalling
// every phase for a scheduler time slice.
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
  PhaseScheduler(int parts, int team) : parts_(parts), team_(team) {
    // Small teams (the common case) use the inline arrays: a call allocates nothing here.
    if (parts > kInline) heap_claimed_.reset(new std::atomic<int64_t>[parts]);
    if (team > kInline) heap_left_.reset(new std::atomic<bool>[team]);
    claimed_ = heap_claimed_ ? heap_claimed_.get() : inline_claimed_;
    left_ = heap_left_ ? heap_left_.get() : inline_left_;
    for (int p = 0; p < parts; ++p) claimed_[p].store(-1, std::memory_order_relaxed);
    for (int m = 0; m < team; ++m) left_[m].store(false, std::memory_order_relaxed);
  }
  PhaseScheduler(const PhaseScheduler&) = delete;
  PhaseScheduler& operator=(const PhaseScheduler&) = delete;

  // Runs fn(p) for the partitions of `phase` (phases are numbered 0, 1, 2, ... and every member
  // calls every phase in order until it leaves). Returns true when all partitions of the phase
  // are done; false when this member has left the team (its home partition had been taken): it
  // must then stop calling run_phase for this call, and call leave() on any other scheduler it
  // works for.
  template <class Fn>
  bool run_phase(int64_t phase, int member, Fn&& fn) {
    bool lost_home = false;
    for (int p = member; p < parts_; p += team_) {
      if (claim(p, phase)) finish(p, fn);
      else lost_home = true;
    }
    if (team_ <= 1) return true;
    if (lost_home) {
      leave(member);
      return false;
    }
    // Partitions of members that left are adopted at once.
    for (int p = 0; p < parts_; ++p)
      if (left_[p % team_].load(std::memory_order_relaxed) && claim(p, phase)) finish(p, fn);
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
    return true;
  }

  void leave(int member) { left_[member].store(true, std::memory_order_release); }

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
  static constexpr int kInline = 16;
  std::atomic<int64_t> inline_claimed_[kInline];
  std::atomic<bool> inline_left_[kInline];
  std::unique_ptr<std::atomic<int64_t>[]> heap_claimed_;
  std::unique_ptr<std::atomic<bool>[]> heap_left_;
  std::atomic<int64_t>* claimed_;
  std::atomic<bool>* left_;
  alignas(64) std::atomic<int64_t> done_{0};
};

}  // namespace lstmrt
