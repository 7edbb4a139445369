// Runs a sequence of phases (one per timestep, or two for a GRU with linear_before_reset=0),
// each made of the same P partitions, on a small team of threads.
//
// Each thread first claims its home partitions (p = member, member + team, ...), so in the normal
// case every partition's weights stay in one core's cache for the whole sequence, as with static
// ownership and a barrier. A thread that has finished waits for the phase to complete, and runs
// partitions nobody has claimed:
// - at once, when their owner has not arrived in the call yet (its worker was asleep, or is still
//   being scheduled): the owner then starts late, runs nothing until it has caught up with the
//   phase in progress, and from there on takes its partitions as usual;
// - after a grace period, when the owner had arrived (it was descheduled mid-call: the machine is
//   busy, or a virtual CPU was preempted). An owner that then finds its home partition taken
//   marks itself away, and until it is back the others adopt its partitions without waiting;
//   at the next phase it is back and takes its partitions again. So a descheduled thread costs
//   one grace period per incident, and the call does not stay on fewer threads once it returns.
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
    if (team > kInline) {
      heap_left_.reset(new std::atomic<bool>[team]);
      heap_arrived_.reset(new std::atomic<bool>[team]);
      heap_joined_.reset(new bool[team]);
      heap_all_arrived_.reset(new bool[team]);
    }
    claimed_ = heap_claimed_ ? heap_claimed_.get() : inline_claimed_;
    left_ = heap_left_ ? heap_left_.get() : inline_left_;
    arrived_ = heap_arrived_ ? heap_arrived_.get() : inline_arrived_;
    joined_ = heap_joined_ ? heap_joined_.get() : inline_joined_;
    all_arrived_ = heap_all_arrived_ ? heap_all_arrived_.get() : inline_all_arrived_;
    for (int p = 0; p < parts; ++p) claimed_[p].store(-1, std::memory_order_relaxed);
    for (int m = 0; m < team; ++m) {
      left_[m].store(false, std::memory_order_relaxed);
      arrived_[m].store(false, std::memory_order_relaxed);
      joined_[m] = false;
      all_arrived_[m] = false;
    }
  }
  PhaseScheduler(const PhaseScheduler&) = delete;
  PhaseScheduler& operator=(const PhaseScheduler&) = delete;

  // Runs fn(p) for the partitions of `phase` (phases are numbered 0, 1, 2, ... and every member
  // calls every phase in order), and returns when all partitions of the phase are done.
  template <class Fn>
  void run_phase(int64_t phase, int member, Fn&& fn) {
    if (team_ > 1) {
      if (!joined_[member] && !arrived_[member].load(std::memory_order_relaxed))
        arrived_[member].store(true, std::memory_order_release);
      if (left_[member].load(std::memory_order_relaxed)) left_[member].store(false, std::memory_order_release);
    }
    bool lost_home = false;
    for (int p = member; p < parts_; p += team_) {
      if (claim(p, phase)) {
        joined_[member] = true;
        finish(p, fn);
      } else {
        lost_home = true;
      }
    }
    if (team_ <= 1) return;
    // Taken while this member was descheduled: away until the next phase.
    if (lost_home && joined_[member]) left_[member].store(true, std::memory_order_release);
    // (A member that has not joined yet is catching up: it waits for the phase like the others.)
    // Partitions of members that are away are adopted at once.
    for (int p = 0; p < parts_; ++p)
      if (left_[p % team_].load(std::memory_order_relaxed) && claim(p, phase)) finish(p, fn);
    const int64_t target = (phase + 1) * parts_;
    const auto start = std::chrono::steady_clock::now();
    bool grace_over = false;
    for (unsigned spins = 1; done_.load(std::memory_order_acquire) < target; ++spins) {
      if (grace_over || !all_arrived_[member]) {
        bool stole = false, someone_absent = false;
        for (int p = 0; p < parts_; ++p) {
          const bool absent = !arrived_[p % team_].load(std::memory_order_acquire);
          someone_absent |= absent;
          if (claimed_[p].load(std::memory_order_relaxed) == phase - 1 && (grace_over || absent) && claim(p, phase)) {
            finish(p, fn);
            stole = true;
          }
        }
        if (!someone_absent) all_arrived_[member] = true;  // arrival is for the whole call: stop looking
        if (grace_over && !stole) std::this_thread::yield();
      }
      LSTMRT_PAUSE();
      if ((spins & 255) == 0) grace_over = std::chrono::steady_clock::now() - start > kGrace;
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
  static constexpr int kInline = 16;
  // Written once per phase per partition (claimed_), once per call (the flags), and by their
  // member only (the bools): each kind on lines of its own, so that spinning readers of one do
  // not slow the writers of another.
  alignas(64) std::atomic<int64_t> inline_claimed_[kInline];
  alignas(64) std::atomic<bool> inline_left_[kInline];
  std::atomic<bool> inline_arrived_[kInline];
  alignas(64) bool inline_joined_[kInline];
  bool inline_all_arrived_[kInline];
  std::unique_ptr<std::atomic<int64_t>[]> heap_claimed_;
  std::unique_ptr<std::atomic<bool>[]> heap_left_;
  std::unique_ptr<std::atomic<bool>[]> heap_arrived_;
  std::unique_ptr<bool[]> heap_joined_;
  std::unique_ptr<bool[]> heap_all_arrived_;
  std::atomic<int64_t>* claimed_;
  std::atomic<bool>* left_;     // away (was descheduled): its partitions are adopted at once
  std::atomic<bool>* arrived_;  // has started on this call
  bool* joined_;                // has run a home partition in this call
  bool* all_arrived_;           // has seen every member arrive
  alignas(64) std::atomic<int64_t> done_{0};
};

}  // namespace lstmrt
