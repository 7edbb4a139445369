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
//
// A waiting member also looks, now and then, for a team mate last seen on its own CPU: the OS has
// queued the two on one CPU, and each spins while the other waits for its turn. A pool worker
// then moves to another CPU (worker_leave_cpu); the caller's thread yields to it.
//
// A scheduler lives as long as the workspace that holds it and serves one call after another:
// phases are numbered on from the previous call (begin_call gives the first), and a member's
// per-call flags hold the number of the call's first phase instead of being cleared. So a claim
// line stays in the cache of the core that owns the partition from call to call, and a call
// writes nothing that the other core must fetch before its first claim (a scheduler built afresh
// for each call made a one-step call fetch freshly zeroed lines across cores; bench/README.md,
// bench/test_bench_stream.py).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "cpu/threading.h"  // LSTMRT_PAUSE, current_cpu, worker_leave_cpu

namespace lstmrt {

namespace testing {
// Counted on the scheduler's slow paths only (never per partition in the normal case), so that
// tests and the benchmark can see how often a call ran on fewer threads than it asked for.
struct SchedulerCounters {
  std::atomic<int64_t> grace_expired{0};       // phases whose waiter outlasted the grace period
  std::atomic<int64_t> stolen_after_grace{0};  // partitions run for an owner that had arrived
  std::atomic<int64_t> adopted{0};             // partitions run at once for an absent or away owner
};
inline SchedulerCounters scheduler_counters;
}  // namespace testing

class PhaseScheduler {
 public:
  PhaseScheduler() = default;
  PhaseScheduler(const PhaseScheduler&) = delete;
  PhaseScheduler& operator=(const PhaseScheduler&) = delete;

  // Starts a call of `parts` partitions on `team` members, before any member runs; returns the
  // number of the call's first phase (later phases follow on from it). Only the calling thread,
  // with no member of a previous call still running.
  int64_t begin_call(int parts, int team) {
    if (parts != parts_ || team != team_ || !clean_) {
      if (parts > slot_capacity_) {
        slots_.reset(new Slot[parts]);
        slot_capacity_ = parts;
      }
      if (team > member_capacity_) {
        members_.reset(new Member[team]);
        member_capacity_ = team;
      }
      // Past every phase a call that threw may have used, so that no flag of it reads as set.
      for (int p = 0; p < parts_; ++p)
        next_phase_ = std::max(next_phase_, slots_[p].claimed.load(std::memory_order_relaxed) + 1);
      next_phase_ += 1;
      parts_ = parts;
      team_ = team;
      for (int p = 0; p < parts_; ++p) {
        slots_[p].claimed.store(next_phase_ - 1, std::memory_order_relaxed);
        slots_[p].done.store(next_phase_ - 1, std::memory_order_relaxed);
      }
    }
    clean_ = false;
    first_phase_ = next_phase_;
    return first_phase_;
  }
  // The first phase of the call in progress (begin_call's).
  int64_t first_phase() const { return first_phase_; }
  // Ends the call, after every member has returned: the next call numbers its phases on from the
  // last one run. A call that never gets here (it threw) leaves the marks to be reset.
  void end_call() {
    int64_t last = first_phase_ - 1;
    for (int p = 0; p < parts_; ++p) last = std::max(last, slots_[p].done.load(std::memory_order_relaxed));
    next_phase_ = last + 1;
    clean_ = true;
  }

  // Runs fn(p) for the partitions of `phase` (phases are numbered on from begin_call's, and every
  // member calls every phase of the call in order), and returns when all its partitions are done.
  template <class Fn>
  void run_phase(int64_t phase, int member, Fn&& fn) {
    Member& me = members_[member];
    if (phase == first_phase_) {
      me.joined = false;
      me.saw_all_arrive = false;
    }
    if (team_ > 1) {
      note_cpu(me, current_cpu());
      if (me.arrived_in.load(std::memory_order_relaxed) != first_phase_)
        me.arrived_in.store(first_phase_, std::memory_order_release);
      if (away(me)) me.away_in.store(-1, std::memory_order_release);
    }
    bool lost_home = false;
    for (int p = member; p < parts_; p += team_) {
      if (claim(p, phase)) {
        me.joined = true;
        finish(p, fn, phase);
      } else {
        lost_home = true;
      }
    }
    if (team_ <= 1) return;
    // Taken while this member was descheduled: away until the next phase.
    if (lost_home && me.joined) me.away_in.store(first_phase_, std::memory_order_release);
    // (A member that has not joined yet is catching up: it waits for the phase like the others.)
    // Partitions of members that are away are adopted at once.
    for (int p = 0; p < parts_; ++p)
      if (away(owner(p)) && claim(p, phase)) {
        testing::scheduler_counters.adopted.fetch_add(1, std::memory_order_relaxed);
        finish(p, fn, phase);
      }
    // The grace period's clock starts only once the wait is long (reading the clock costs
    // ~20 ns, and most waits end sooner).
    std::chrono::steady_clock::time_point start{};
    bool grace_over = false;
    for (unsigned spins = 1; !all_done(phase); ++spins) {
      if (grace_over || !me.saw_all_arrive) {
        bool stole = false, someone_absent = false;
        for (int p = 0; p < parts_; ++p) {
          const bool absent = owner(p).arrived_in.load(std::memory_order_acquire) != first_phase_;
          someone_absent |= absent;
          // (The owner's claim line is read only then: reading it pulls it from the owner's cache.)
          if ((grace_over || absent) && slots_[p].claimed.load(std::memory_order_relaxed) == phase - 1 && claim(p, phase)) {
            (absent ? testing::scheduler_counters.adopted : testing::scheduler_counters.stolen_after_grace)
                .fetch_add(1, std::memory_order_relaxed);
            finish(p, fn, phase);
            stole = true;
          }
        }
        if (!someone_absent) me.saw_all_arrive = true;  // arrival is for the whole call: stop looking
        if (grace_over && !stole) std::this_thread::yield();
      }
      LSTMRT_PAUSE();
      if ((spins & 255) != 0) continue;
      const int cpu = current_cpu();
      note_cpu(me, cpu);
      if (mate_on_cpu(member, cpu) && !worker_leave_cpu(cpu)) std::this_thread::yield();
      if (spins == 256) {
        start = std::chrono::steady_clock::now();
      } else if (!grace_over && std::chrono::steady_clock::now() - start > kGrace) {
        grace_over = true;
        testing::scheduler_counters.grace_expired.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

 private:
  static constexpr std::chrono::microseconds kGrace{30};

  bool claim(int p, int64_t phase) {
    int64_t expected = phase - 1;
    return slots_[p].claimed.compare_exchange_strong(expected, phase, std::memory_order_acq_rel);
  }
  template <class Fn>
  void finish(int p, Fn& fn, int64_t phase) {
    fn(p);
    slots_[p].done.store(phase, std::memory_order_release);
  }
  bool all_done(int64_t phase) const {
    for (int p = 0; p < parts_; ++p)
      if (slots_[p].done.load(std::memory_order_acquire) < phase) return false;
    return true;
  }

  // One partition's marks, each on a cache line of its own: the last phase it was claimed for
  // (written by its owner at the start of a phase, so in the normal case a line this core
  // already holds) and the last phase it finished (written once, read by the waiting others).
  // Shared lines (one array of claims, one counter of finished partitions) cost a transfer
  // between cores for every write (an empty phase took about 1.5x as long with them;
  // bench/README.md).
  struct alignas(64) Slot {
    std::atomic<int64_t> claimed{-1};
    alignas(64) std::atomic<int64_t> done{-1};
  };

  // One member's state, on a cache line of its own: the flags are written once per call by their
  // member and read by the spinning others; the bools are the member's own. A flag holds the
  // first phase of the call it was set in, so it needs no clearing between calls.
  struct alignas(64) Member {
    std::atomic<int> cpu{-1};               // the CPU it last ran on, as it last looked (-1: not known)
    std::atomic<int64_t> away_in{-1};       // descheduled: its partitions are adopted at once until it is back
    std::atomic<int64_t> arrived_in{-1};    // has started on the call
    bool joined = false;                    // has run a home partition in this call
    bool saw_all_arrive = false;            // has seen every member arrive
  };
  bool away(const Member& m) const { return m.away_in.load(std::memory_order_relaxed) == first_phase_; }
  Member& owner(int p) { return members_[p % team_]; }
  static void note_cpu(Member& me, int cpu) {
    if (me.cpu.load(std::memory_order_relaxed) != cpu) me.cpu.store(cpu, std::memory_order_relaxed);
  }
  bool mate_on_cpu(int member, int cpu) const {
    if (cpu < 0) return false;
    for (int m = 0; m < team_; ++m)
      if (m != member && members_[m].cpu.load(std::memory_order_relaxed) == cpu) return true;
    return false;
  }

  int parts_ = 0;
  int team_ = 0;
  int slot_capacity_ = 0;
  int member_capacity_ = 0;
  int64_t first_phase_ = 0;  // of the call in progress
  int64_t next_phase_ = 0;   // the first phase of the next call
  bool clean_ = false;       // the last call ended: every slot's marks equal next_phase_ - 1
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<Member[]> members_;
};

}  // namespace lstmrt
