// Thread counts, parallel loops, and the floating-point mode lstmrt runs in.
#pragma once

#include <cstdint>

#include "cpu/worker_pool.h"

// One step of a spin-wait: tells the core this thread is only waiting.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LSTMRT_PAUSE() _mm_pause()
#else
#define LSTMRT_PAUSE() ((void)0)
#endif

namespace lstmrt {

// The CPU the calling thread runs on now, or -1 where the OS cannot say (a few ns on Linux).
int current_cpu();

// Moves the calling thread off `cpu` to another CPU of its affinity mask, and gives it back its
// mask (the thread stays where it was moved to). False when it cannot: no other CPU in the mask,
// not on `cpu` any more, or not supported on this OS.
bool move_off_cpu(int cpu);

// LSTMRT_NUM_THREADS when set, else the number of cores the process may use.
int default_num_threads();
// Resolves a user's request: <= 0 means the default.
int resolve_threads(int requested);

// Threads that lstmrt calls may use right now, shared by every call in the process: a call
// takes up to what it asks for (always at least its own thread) and gives them back at the end,
// so that several Python threads running models at once do not oversubscribe the cores.
class ThreadClaim {
 public:
  explicit ThreadClaim(int requested);
  ~ThreadClaim();
  ThreadClaim(const ThreadClaim&) = delete;
  ThreadClaim& operator=(const ThreadClaim&) = delete;
  int threads() const { return threads_; }

 private:
  int threads_;
};

// Sets flush-to-zero and denormals-are-zero for this thread while it lives and restores the
// caller's mode afterwards. Denormal operands make x86 arithmetic 10-100x slower, and the
// recurrences of a decaying state produce them; results below 1.2e-38 become 0.
class ScopedFlushDenormals {
 public:
  ScopedFlushDenormals();
  ~ScopedFlushDenormals();
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;
};

// Calls fn(begin, end) on up to `threads` contiguous pieces of [0, n) in parallel (each piece a
// multiple of `grain` except the last), on the calling thread and pooled workers; serial when
// threads <= 1, n is small, or no core is free (ThreadClaim).
template <class Fn>
void parallel_for(int64_t n, int threads, int64_t grain, Fn&& fn) {
  if (grain < 1) grain = 1;
  const int64_t max_pieces = (n + grain - 1) / grain;
  const int pieces = threads < max_pieces ? threads : static_cast<int>(max_pieces);
  if (pieces > 1) {
    ThreadClaim claim(pieces);
    WorkerTeam team(claim.threads());
    const int count = team.size();
    if (count > 1) {
      const int64_t per = (max_pieces + count - 1) / count * grain;
      auto piece = [&](int id) {
        const int64_t b = id * per;
        const int64_t e = b + per < n ? b + per : n;
        if (b < e) fn(b, e);
      };
      team.run(count, piece);
      return;
    }
  }
  if (n > 0) fn(int64_t{0}, n);
}

}  // namespace lstmrt
