// lstmrt's own worker threads, shared by every call in the process, and the team a call borrows.
//
// Why not OpenMP: a single timestep costs a few microseconds, so what matters is how fast an idle
// worker starts on the next call, and that is the OpenMP runtime's spin policy, which lstmrt
// cannot set. A process has one libgomp whichever library loaded it first (PyTorch ships its
// own under the same soname), and libgomp stops spinning almost at once when the process holds
// more OpenMP threads than cores; every call then waits for a sleeping worker to be woken (in the
// benchmark process, with PyTorch and onnxruntime loaded, a one-step call took several times as
// long; bench/README.md). These workers spin for LSTMRT_SPIN_US microseconds after each job
// (default 1000), then sleep until the next.
//
// Waking a sleeping worker is not free, and for a small job it does not pay: the wake itself is a
// system call of tens of microseconds on a virtual machine, and the woken worker is mostly too
// late for the call that woke it. So a small job can leave sleeping workers asleep
// (WakePolicy::WhenCallsAreFrequent) and run on the threads that are awake.
#pragma once

#include <cstdint>
#include <vector>

namespace lstmrt {

struct PoolWorker;

// What a team does with the workers it holds that are asleep (idle past their spin time).
enum class WakePolicy {
  // Wake them: the job is long enough to gain from them even when they arrive late.
  Always,
  // Leave them asleep and out of the team, unless calls come faster than a worker's spin time:
  // a previous team left sleepers less than one spin time before this one started. Then they
  // are woken, and once awake they keep spinning between the calls of the burst. So sparse
  // calls never pay for a wake-up, and a burst pays once, on its second call.
  WhenCallsAreFrequent,
};

// The calling thread plus up to `threads - 1` pooled workers, held from construction to
// destruction. Called from inside a team's job (nested parallelism), it holds no worker.
class WorkerTeam {
 public:
  explicit WorkerTeam(int threads, WakePolicy policy = WakePolicy::Always);
  ~WorkerTeam();
  WorkerTeam(const WorkerTeam&) = delete;
  WorkerTeam& operator=(const WorkerTeam&) = delete;

  // Threads this team can run at once: 1 + the workers it holds.
  int size() const { return 1 + count_; }

  // Runs fn(member) exactly once for every member < `members` (<= size()): member 0 on the
  // calling thread, the others on the team's workers, each under flush-to-zero. A worker that
  // has not yet started its member when the caller is done with its own (it was asleep or
  // descheduled) is released, and the caller runs that member itself. Returns when every member
  // has run. fn must not throw.
  template <class Fn>
  void run(int members, Fn& fn) {
    run_erased(members, &call<Fn>, &fn);
  }

 private:
  template <class Fn>
  static void call(void* fn, int member) {
    (*static_cast<Fn*>(fn))(member);
  }
  void run_erased(int members, void (*call)(void*, int), void* fn);
  void leave_sleepers();

  static constexpr int kInline = 16;
  PoolWorker* inline_[kInline];
  std::vector<PoolWorker*> heap_;  // teams larger than kInline + 1
  PoolWorker** workers_ = inline_;
  int count_ = 0;
  bool left_sleepers_ = false;  // sleepers were left out: the destructor notes when the call ended
};

// Microseconds a worker keeps spinning for new work after a job (LSTMRT_SPIN_US, default 1000).
int64_t worker_spin_microseconds();

// For a thread of a team that finds a team mate last seen on the CPU it runs on itself (`cpu`):
// the two are queued on one CPU, each waiting for the other, while the process may have an idle
// one. The OS puts them there now and then (a waking worker placed on its waker's CPU, a brief
// third task), and its load balancer leaves two busy threads together for ~10 ms. A pool worker
// then moves itself to another CPU of its mask (at most once per 200 us) and returns true. The
// calling thread of a team is the user's: its placement is left alone, and this returns false
// (it should yield instead, so that the worker runs and moves).
bool worker_leave_cpu(int cpu);

namespace testing {
// While held, workers leave posted members alone, so teams run every member on the caller (late
// or absent workers, made deterministic for the tests).
void hold_workers(bool hold);
// Replaces the spin time (LSTMRT_SPIN_US) from now on, also for workers spinning now.
void set_worker_spin_microseconds(int64_t us);
struct PoolStats {
  int workers = 0;                 // threads the pool has started
  int64_t jobs_by_workers = 0;     // members run on a worker
  int64_t members_taken_back = 0;  // members a caller ran because its worker had not started
  int64_t cpu_moves = 0;           // workers that moved off the CPU of a team mate (worker_leave_cpu)
  int64_t wakes = 0;               // sleeping workers woken by a team
  int64_t sleepers_left = 0;       // sleeping workers a team left asleep (WakePolicy::WhenCallsAreFrequent)
};
PoolStats pool_stats();
}  // namespace testing

}  // namespace lstmrt
