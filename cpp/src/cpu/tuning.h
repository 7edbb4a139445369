// Every threshold that decides how lstmrt runs a call, in one place. Each says in a line what it
// decides and which benchmark re-derives it; the measurements behind the values, and where no
// benchmark re-derives one, are in bench/TUNING.md under the same names. Thresholds about what
// fits in a core's cache are fractions of the detected L2, so that they follow the machine.
#pragma once

#include <cstdint>

namespace lstmrt {

// Rows of A a GEMM kernel takes in one block, as floats of A (32768 floats = 128 KiB): the block
// stays in L2 while every panel of B streams past it. A compile-time constant because the
// per-ISA kernels size their loops with it. Re-derived by: none (bench/TUNING.md).
constexpr int64_t kGemmRowBlockFloats = 32768;

// A GEMM whose output C is larger than this prefetches C's lines for writing: C cannot still be
// in a core's L2 from its last use. Compile-time for the kernels; not seeded from the detected
// L2 (bench/TUNING.md). Re-derived by: none (bench/TUNING.md).
constexpr int64_t kColdOutputBytes = int64_t{1} << 20;
// A GEMM whose weights are larger than this prefetches them in software: they stream from memory.
// Re-derived by: none (bench/TUNING.md).
constexpr int64_t kStreamedWeightBytes = int64_t{16} << 20;

// The L2 the cache thresholds are fractions of where the OS does not report one.
constexpr int64_t kFallbackL2Bytes = int64_t{1} << 20;
// The largest L2 the fractions are taken of: a larger cache keeps the plans of the L2 the
// thresholds were derived on until a benchmark shows that larger values pay (bench/l2_plans.py
// re-derives it; bench/TUNING.md). A smaller L2 scales them down.
constexpr int64_t kMaxTunedL2Bytes = int64_t{1} << 20;

struct Tuning {
  // The L2 cache per core as detected (or kFallbackL2Bytes), and the part of it the fractions
  // below are taken of (at most kMaxTunedL2Bytes).
  int64_t l2_bytes = kFallbackL2Bytes;
  int64_t tuned_l2_bytes = kFallbackL2Bytes;

  // --- A layer call (plan_call, cpp/src/rnn/call_plan.cc) ---
  // A call runs on one thread when one timestep has fewer FLOPs than this (a team meets once per
  // step). Re-derived by: bench/test_bench_matrix.py, 1 vs 2 threads at batch 1.
  double min_step_flops_for_threads = 40000.0;
  // ... or when the whole call has fewer FLOPs than this (starting a team costs). Re-derived by:
  // bench/test_bench_matrix.py, seq 1 batch 1 at 1 vs 2 threads.
  double min_call_flops_for_threads = 90000.0;
  // A call with fewer FLOPs leaves sleeping workers asleep unless calls come faster than their
  // spin time (WakePolicy). Re-derived by: bench/test_bench_matrix.py::test_paced.
  double min_call_flops_to_wake_workers = 32e6;
  // Rows split across a direction's threads only when each thread gets at least this many (fewer
  // rows split units); a batch below it can use no more threads than the layer has partitions.
  // Re-derived by: bench/test_bench_matrix.py, batch 32 at 2 threads (no row sweeps it).
  int64_t min_rows_per_thread_to_split_rows = 4;
  // Rows split when a direction's recurrent weights (read whole by every thread) are at most this
  // many bytes: half of L2, the rest holding the projections and states streaming past.
  // Re-derived by: bench/test_bench_matrix.py, batch 32 at 2 threads.
  double max_shared_recurrent_bytes = 0.0;  // seeded: tuned_l2_bytes / 2
  // With at least this many rows per thread, rows split up to the larger bound below too (a GEMM
  // of that many rows runs at the FMA peak with its weights half out of L2). Re-derived by:
  // bench/test_bench_matrix.py, batch 32 at 2 threads.
  int64_t min_rows_per_thread_to_share_more = 16;
  double max_shared_recurrent_bytes_many_rows = 0.0;  // seeded: tuned_l2_bytes
  // A bidirectional call runs its directions in turn, each on all the threads splitting units,
  // instead of both at once, when one direction's recurrent weights are more than this many bytes
  // (a core streaming them every step would read past its L2) and its threads' shares are at most
  // this many: each core then keeps its share in L2 from step to step. Seeded from the detected
  // L2 itself, not the tuned part: it is about what stays resident. Re-derived by:
  // bench/test_bench_matrix.py::test_bidir, hidden 512, batch 1, 2 threads.
  double max_direction_share_bytes_in_turn = 0.0;  // seeded: l2_bytes
  // Each step projects its own timestep's inputs (X_t·Wᵀ, into a buffer that stays in cache)
  // instead of all steps up front, when a thread has at least this many rows... Re-derived by:
  // bench/test_bench_matrix.py, seq 100 batch 32.
  int64_t min_rows_for_step_projection = 8;
  // ... and the input weights one thread multiplies are at most this many bytes (they are read
  // every step). Re-derived by: bench/test_bench_matrix.py, seq 100 batch 32, hidden 256-1024.
  double max_step_projection_weight_bytes = 0.0;  // seeded: tuned_l2_bytes

  // --- Packing (RnnLayer's constructor) ---
  // A layer split for threads also keeps a whole copy, for calls on one thread, when its packed
  // W and R (all directions) are at most this many bytes: a bound on memory, not a cache size.
  // Re-derived by: bench/test_bench_matrix.py, 1 thread, hidden 64-128.
  double max_whole_copy_bytes = 512.0 * 1024.0;

  // --- The GEMM driver (cpp/src/cpu/gemm.cc) ---
  // A GEMM with fewer FLOPs runs on one thread: a fork/join costs more than it saves. Re-derived
  // by: bench/test_bench_kernels.py::test_input_gemm at 1 vs 2 threads.
  double gemm_min_flops_for_threads = 262144.0;
  // A GEMM splits its rows across threads when each gets at least this many, else its column
  // panels. Re-derived by: bench/test_bench_kernels.py::test_input_gemm at 1 vs 2 threads.
  int64_t gemm_min_rows_per_thread = 8;
  // ... unless its packed weights are more than this many bytes and its rows fit one block of the
  // kernel (kGemmRowBlockFloats): then the weights stream from beyond L2 once per call, and
  // splitting rows would have every thread stream them all. Re-derived by:
  // bench/test_bench_real_models.py::test_ddddocr_image at 2 threads (its last Gemm, 20 x 8210
  // by 1024: 33 MB of weights).
  double gemm_max_shared_weight_bytes = 0.0;  // seeded: tuned_l2_bytes
};

// The tuning for a machine with `l2_bytes` of L2 per core (<= 0: kFallbackL2Bytes). Pure.
Tuning tuning_for_l2(int64_t l2_bytes);

// This machine's tuning, seeded from its detected L2 (computed once).
const Tuning& tuning();

}  // namespace lstmrt
