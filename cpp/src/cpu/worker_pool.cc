#include "cpu/worker_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cpu/threading.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define LSTMRT_HAVE_ATFORK 1
#endif

namespace lstmrt {

namespace {

// A worker's slot goes Idle -> Posted (a team hands it a member) -> Running (the worker took it)
// -> Done -> Idle (the team saw it finish); or Posted -> Idle when the team took the member back
// before the worker started it.
enum SlotState : int { kIdle = 0, kPosted = 1, kRunning = 2, kDone = 3 };

thread_local bool t_in_team_job = false;  // this thread is running a member of some team's job

std::atomic<bool> g_hold_workers{false};  // testing: workers leave posted jobs alone
std::atomic<int64_t> g_jobs_by_workers{0};
std::atomic<int64_t> g_members_taken_back{0};
std::atomic<int64_t> g_cpu_moves{0};
std::atomic<int64_t> g_wakes{0};
std::atomic<int64_t> g_sleepers_left{0};

// When the last team that left sleeping workers out ended (steady_clock, ns; 0: never).
std::atomic<int64_t> g_sleepers_left_at_ns{0};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Shortest time between two moves of one worker: if two threads keep meeting on one CPU, the
// worker does not bounce between CPUs faster than this.
constexpr std::chrono::microseconds kMinMoveInterval{200};

int64_t read_spin_microseconds() {
  if (const char* env = std::getenv("LSTMRT_SPIN_US")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && v >= 0) return static_cast<int64_t>(v);
  }
  return 1000;
}

// Read by every worker at each look at the clock, so that a change applies to spinning workers.
std::atomic<int64_t>& spin_microseconds() {
  static std::atomic<int64_t> us{read_spin_microseconds()};
  return us;
}

}  // namespace

struct PoolWorker {
  alignas(64) std::atomic<int> state{kIdle};
  void (*call)(void*, int) = nullptr;
  void* fn = nullptr;
  int member = 0;
  std::atomic<int> poster_cpu{-1};  // the CPU of the thread that posted the latest job
  std::chrono::steady_clock::time_point last_move{};  // the worker's own
  alignas(64) std::atomic<bool> owned{false};  // held by a team
  std::atomic<bool> sleeping{false};
  bool woken = false;  // a team has woken it (under mutex)
  std::mutex mutex;
  std::condition_variable wake;
};

namespace {

thread_local PoolWorker* t_worker = nullptr;  // the pool worker this thread is, if any

// A worker on the CPU of the thread that posted its latest job would only take turns with it.
void leave_posters_cpu(const PoolWorker& w) {
  const int cpu = current_cpu();
  if (cpu >= 0 && cpu == w.poster_cpu.load(std::memory_order_relaxed)) worker_leave_cpu(cpu);
}

// Waits for a posted job: spins for the spin time, then sleeps until a team posts one.
void wait_for_post(PoolWorker& w) {
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 1;; ++i) {
      if (w.state.load(std::memory_order_acquire) == kPosted && !g_hold_workers.load(std::memory_order_relaxed))
        return;
      LSTMRT_PAUSE();
      if ((i & 127) != 0) continue;
      if (g_hold_workers.load(std::memory_order_relaxed)) {
        std::this_thread::yield();
        continue;
      }
      // Spinning on the CPU of the thread that will post the next job takes that CPU from it.
      leave_posters_cpu(w);
      const std::chrono::microseconds spin(spin_microseconds().load(std::memory_order_relaxed));
      if (std::chrono::steady_clock::now() - start >= spin) break;
    }
    std::unique_lock<std::mutex> lock(w.mutex);
    // seq_cst on both sides: either this load sees the post, or the poster sees `sleeping`
    // and wakes this thread under the mutex, once it is waiting. Any wake-up ends the sleep,
    // even when the team has taken its member back meanwhile (a sleeping worker often wakes
    // too late for the call that woke it): the worker then spins again, ready for the next call,
    // instead of sleeping through every call that cannot wait for it.
    w.sleeping.store(true, std::memory_order_seq_cst);
    while (!w.woken && w.state.load(std::memory_order_seq_cst) != kPosted) w.wake.wait(lock);
    w.woken = false;
    w.sleeping.store(false, std::memory_order_relaxed);
  }
}

void worker_main(PoolWorker* w) {
#if defined(__linux__)
  // Named so that tools (top -H, /proc/<pid>/task/*/comm, the benchmark) can tell lstmrt's
  // workers from the threads of other libraries in the same process.
  pthread_setname_np(pthread_self(), "lstmrt-worker");
#endif
  t_in_team_job = true;  // a job that asks for threads runs on this one alone
  t_worker = w;
  for (;;) {
    wait_for_post(*w);
    int expected = kPosted;
    if (!w->state.compare_exchange_strong(expected, kRunning, std::memory_order_acq_rel)) continue;  // taken back
    // Woken onto the poster's CPU (the OS may place a waking thread on its waker's).
    leave_posters_cpu(*w);
    {
      ScopedFlushDenormals ftz;
      w->call(w->fn, w->member);
    }
    g_jobs_by_workers.fetch_add(1, std::memory_order_relaxed);
    w->state.store(kDone, std::memory_order_release);
  }
}

// Every worker the process has started. Workers are never destroyed: they sleep when idle, and
// joining them from a static destructor at exit would race with daemon threads still calling.
class Pool {
 public:
  static constexpr int kMaxWorkers = 256;

  // Takes up to `wanted` workers that no team holds, starting new ones as needed.
  int acquire(int wanted, PoolWorker** out) {
    int got = 0;
    const int existing = count_.load(std::memory_order_acquire);
    for (int i = 0; i < existing && got < wanted; ++i) {
      bool expected = false;
      if (workers_[i]->owned.compare_exchange_strong(expected, true, std::memory_order_acquire)) out[got++] = workers_[i];
    }
    if (got == wanted) return got;
    std::lock_guard<std::mutex> lock(grow_);
    while (got < wanted && count_.load(std::memory_order_relaxed) < kMaxWorkers) {
      PoolWorker* w = new PoolWorker();
      w->owned.store(true, std::memory_order_relaxed);
      try {
        std::thread(worker_main, w).detach();
      } catch (...) {  // the system refused a thread: run with the ones we have
        delete w;
        break;
      }
      workers_[count_.load(std::memory_order_relaxed)] = w;
      count_.fetch_add(1, std::memory_order_release);
      out[got++] = w;
    }
    return got;
  }

  int size() const { return count_.load(std::memory_order_acquire); }

 private:
  std::mutex grow_;
  std::atomic<int> count_{0};
  PoolWorker* workers_[kMaxWorkers] = {};
};

std::atomic<Pool*> g_pool{nullptr};

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  static std::once_flag once;
  std::call_once(once, [] {
#if LSTMRT_HAVE_ATFORK
    // A forked child has none of the parent's threads: it starts a pool of its own (the parent's
    // is leaked in the child, which never touches it).
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(new Pool(), std::memory_order_release); });
#endif
    Pool* expected = nullptr;
    g_pool.compare_exchange_strong(expected, new Pool(), std::memory_order_acq_rel);
  });
  return *g_pool.load(std::memory_order_acquire);
}

}  // namespace

int64_t worker_spin_microseconds() { return spin_microseconds().load(std::memory_order_relaxed); }

bool worker_leave_cpu(int cpu) {
  PoolWorker* w = t_worker;
  if (w == nullptr) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - w->last_move < kMinMoveInterval) return false;
  w->last_move = now;
  if (!move_off_cpu(cpu)) return false;
  g_cpu_moves.fetch_add(1, std::memory_order_relaxed);
  return true;
}

WorkerTeam::WorkerTeam(int threads, WakePolicy policy) {
  const int wanted = threads - 1;
  if (wanted <= 0 || t_in_team_job) return;
  if (wanted > kInline) {
    heap_.resize(static_cast<size_t>(wanted));
    workers_ = heap_.data();
  }
  count_ = pool().acquire(wanted, workers_);
  if (policy == WakePolicy::WhenCallsAreFrequent) leave_sleepers();
}

void WorkerTeam::leave_sleepers() {
  // The flag sits on the line acquire() has just written, so this costs nothing when all are
  // awake; the clock is read only when one sleeps. A worker that falls asleep after this look
  // is woken by run(), as under WakePolicy::Always.
  int sleepers = 0;
  for (int i = 0; i < count_; ++i) sleepers += workers_[i]->sleeping.load(std::memory_order_acquire) ? 1 : 0;
  if (sleepers == 0) return;
  const int64_t last = g_sleepers_left_at_ns.load(std::memory_order_relaxed);
  if (last != 0 && now_ns() - last < worker_spin_microseconds() * 1000) return;  // a burst: wake them
  int kept = 0;
  for (int i = 0; i < count_; ++i) {
    if (workers_[i]->sleeping.load(std::memory_order_acquire)) {
      workers_[i]->owned.store(false, std::memory_order_release);
    } else {
      workers_[kept++] = workers_[i];
    }
  }
  g_sleepers_left.fetch_add(count_ - kept, std::memory_order_relaxed);
  count_ = kept;
  left_sleepers_ = true;
}

WorkerTeam::~WorkerTeam() {
  for (int i = 0; i < count_; ++i) workers_[i]->owned.store(false, std::memory_order_release);
  // From the end of the call: the gap to the next call is what a woken worker would spin through.
  if (left_sleepers_) g_sleepers_left_at_ns.store(now_ns(), std::memory_order_relaxed);
}

void WorkerTeam::run_erased(int members, void (*call)(void*, int), void* fn) {
  if (members > size()) members = size();
  const int cpu = members > 1 ? current_cpu() : -1;
  for (int m = 1; m < members; ++m) {
    PoolWorker& w = *workers_[m - 1];
    w.poster_cpu.store(cpu, std::memory_order_relaxed);
    w.call = call;
    w.fn = fn;
    w.member = m;
    w.state.store(kPosted, std::memory_order_seq_cst);
    if (w.sleeping.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(w.mutex);
      w.woken = true;
      w.wake.notify_one();
      g_wakes.fetch_add(1, std::memory_order_relaxed);
    }
  }
  const bool was_in_job = t_in_team_job;
  t_in_team_job = true;
  {
    ScopedFlushDenormals ftz;
    call(fn, 0);
    // Members whose worker has not started yet are taken back and run here; the others are
    // waited for.
    bool took_back = false;
    for (int m = 1; m < members; ++m) {
      PoolWorker& w = *workers_[m - 1];
      int expected = kPosted;
      if (w.state.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel)) {
        g_members_taken_back.fetch_add(1, std::memory_order_relaxed);
        took_back = true;
        call(fn, m);
      }
    }
    // A worker that never started may be queued behind this thread on its CPU (woken there):
    // one yield lets it run and move away (worker_leave_cpu) before the next call needs it.
    // Where it is elsewhere, the yield returns at once.
    if (took_back) std::this_thread::yield();
  }
  t_in_team_job = was_in_job;
  for (int m = 1; m < members; ++m) {
    PoolWorker& w = *workers_[m - 1];
    // Done, or Idle when it was taken back above.
    for (unsigned i = 1;; ++i) {
      const int state = w.state.load(std::memory_order_acquire);
      if (state == kDone || state == kIdle) break;
      LSTMRT_PAUSE();
      if ((i & 1023) == 0) std::this_thread::yield();  // its thread was descheduled mid-job
    }
    w.state.store(kIdle, std::memory_order_release);
  }
}

namespace testing {

void hold_workers(bool hold) { g_hold_workers.store(hold, std::memory_order_seq_cst); }

void set_worker_spin_microseconds(int64_t us) { spin_microseconds().store(us < 0 ? 0 : us, std::memory_order_relaxed); }

PoolStats pool_stats() {
  PoolStats s;
  Pool* p = g_pool.load(std::memory_order_acquire);
  s.workers = p ? p->size() : 0;
  s.jobs_by_workers = g_jobs_by_workers.load(std::memory_order_relaxed);
  s.members_taken_back = g_members_taken_back.load(std::memory_order_relaxed);
  s.cpu_moves = g_cpu_moves.load(std::memory_order_relaxed);
  s.wakes = g_wakes.load(std::memory_order_relaxed);
  s.sleepers_left = g_sleepers_left.load(std::memory_order_relaxed);
  return s;
}

}  // namespace testing

}  // namespace lstmrt
