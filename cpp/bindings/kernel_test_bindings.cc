// lstmrt._core.testing: direct access to one ISA's kernels, for the kernel tests. Inputs are
// copied into guarded buffers (guarded_buffers.h).
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.h"
#include "guarded_buffers.h"
#include "cpu/core_latency.h"
#include "cpu/lowp_convert.h"
#include "cpu/gemm.h"
#include "cpu/phase_scheduler.h"
#include "cpu/kernels.h"
#include "cpu/threading.h"
#include "cpu/worker_pool.h"


namespace lstmrt {
namespace {

// CPU time of the calling thread: immune to time spent descheduled on a busy machine.
double thread_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

// Seconds per call of fn over `reps` calls, after one untimed call that warms the caches: thread
// CPU time, or wall time when `wall` (a multi-threaded kernel's work is not all on this thread).
template <class Fn>
double seconds_per_call(int reps, bool wall, Fn&& fn) {
  auto now = [&] {
    return wall ? std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count()
                : thread_seconds();
  };
  fn();
  const double t0 = now();
  for (int r = 0; r < reps; ++r) fn();
  return (now() - t0) / reps;
}

// The worker pool and the phase scheduler, observed and steered. Why this is long: a list of
// small independent bindings, one per probe the pool tests need.
void register_pool_tests(py::module_& t) {
  t.def("hold_workers", &lstmrt::testing::hold_workers, py::arg("hold"),
        "While held, pooled workers leave posted work alone, so every team member runs on its caller.");
  t.def("set_worker_spin_us", &lstmrt::testing::set_worker_spin_microseconds, py::arg("us"),
        "Replaces the workers' spin time (LSTMRT_SPIN_US) from now on, also for workers spinning now.");
  t.def("pool_stats", [] {
    const lstmrt::testing::PoolStats s = lstmrt::testing::pool_stats();
    py::dict d;
    d["workers"] = s.workers;
    d["jobs_by_workers"] = s.jobs_by_workers;
    d["members_taken_back"] = s.members_taken_back;
    d["cpu_moves"] = s.cpu_moves;
    d["wakes"] = s.wakes;
    d["sleepers_left"] = s.sleepers_left;
    const lstmrt::testing::SchedulerCounters& c = lstmrt::testing::scheduler_counters;
    d["grace_expired"] = c.grace_expired.load();
    d["stolen_after_grace"] = c.stolen_after_grace.load();
    d["adopted"] = c.adopted.load();
    return d;
  }, "Counters of the worker pool (threads started, members run on workers, members taken back by "
     "callers) and of the step scheduler (phases that outlasted the grace period, partitions stolen "
     "after it, partitions adopted at once from absent or away owners).");
  t.def("current_cpu", &lstmrt::current_cpu, "The CPU the calling thread runs on now (-1 where the OS cannot say).");
  t.def(
      "move_off_cpu",
      [](int cpu) {
        py::gil_scoped_release release;
        return lstmrt::move_off_cpu(cpu);
      },
      py::arg("cpu"),
      "Moves the calling thread off `cpu` (keeping its affinity mask), as a worker queued on its "
      "caller's CPU does; False when it cannot.");
  t.def(
      "round_trip",
      [](py::handle X_obj) {
        // The least a layer call from Python could cost: borrow X, allocate the three outputs of
        // an LSTM step, release and retake the GIL. The benchmark adds it to its floor.
        const auto X = lstmrt::float_array(X_obj, "X");
        if (!X || X->ndim() != 3) throw lstmrt::ValueError("round_trip: X must be a float32 array of rank 3");
        const int64_t H = X->shape(2);
        py::object y = lstmrt::empty_float_array({1, 1, 1, H});
        py::object yh = lstmrt::empty_float_array({1, 1, H});
        py::object yc = lstmrt::empty_float_array({1, 1, H});
        { py::gil_scoped_release release; }
        return py::make_tuple(y, yh, yc);
      },
      py::arg("X"), "Borrows X (seq, batch, H) and returns three new arrays, as a one-step LSTM call would.");
  t.def(
      "scheduler_calls",
      [](const std::vector<std::tuple<int, int, int, bool>>& calls) {
        // One scheduler serves the calls in turn, as a workspace's does: (partitions, threads,
        // phases, end) each, every member on a thread of its own; `end` false leaves the call
        // unended, as one that threw would. Returns, per call, its first phase and how many times
        // each (phase, partition) ran: every count must be 1.
        lstmrt::PhaseScheduler sched;
        py::list out;
        for (const auto& [parts, team, phases, end] : calls) {
          if (parts < 1 || team < 1 || phases < 0) throw lstmrt::ValueError("scheduler_calls: bad call");
          std::vector<std::atomic<int>> runs(static_cast<size_t>(parts) * phases);
          int64_t first = 0;
          {
            py::gil_scoped_release release;
            first = sched.begin_call(parts, team);
            auto member = [&, parts = parts, phases = phases](int m) {
              for (int ph = 0; ph < phases; ++ph)
                sched.run_phase(first + ph, m, [&](int p) { runs[static_cast<size_t>(ph) * parts + p].fetch_add(1); });
            };
            std::vector<std::thread> others;
            for (int m = 1; m < team; ++m) others.emplace_back(member, m);
            member(0);
            for (auto& th : others) th.join();
            if (end) sched.end_call();
          }
          py::list counts;
          for (auto& r : runs) counts.append(r.load());
          out.append(py::make_tuple(first, counts));
        }
        return out;
      },
      py::arg("calls"),
      "Runs calls of (partitions, threads, phases, end) on one step scheduler; per call, its first "
      "phase and the times each (phase, partition) ran.");
  t.def(
      "parallel_for_owners",
      [](int64_t n, int threads, int64_t grain) {
        // Which thread ran each index (0 = the caller): every index must run exactly once.
        std::vector<int64_t> runs(static_cast<size_t>(n), 0);
        std::vector<int> on_caller(static_cast<size_t>(n), 0);
        const std::thread::id caller = std::this_thread::get_id();
        {
          py::gil_scoped_release release;
          parallel_for(n, threads, grain, [&](int64_t b, int64_t e) {
            const bool here = std::this_thread::get_id() == caller;
            for (int64_t i = b; i < e; ++i) {
              ++runs[static_cast<size_t>(i)];
              on_caller[static_cast<size_t>(i)] = here;
            }
          });
        }
        py::list runs_out, caller_out;
        for (size_t i = 0; i < runs.size(); ++i) {
          runs_out.append(runs[i]);
          caller_out.append(on_caller[i]);
        }
        return py::make_tuple(runs_out, caller_out);
      },
      py::arg("n"), py::arg("threads"), py::arg("grain") = 1,
      "Runs parallel_for over [0, n); returns (times each index ran, whether the caller ran it).");
}

// The float32 kernels of one ISA (activations, add_scaled, the GEMMs), on guarded buffers. Why
// this is long: a list of independent bindings, each checking and converting its arguments.
void register_fp32_kernel_tests(py::module_& t) {
  t.def(
      "activation",
      [](const std::string& isa, const std::string& name, py::handle x_obj, float alpha, float beta) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        Activation act;
        act.kind = parse_activation(name, "name");
        act.alpha = alpha;
        act.beta = beta;
        const auto xo = float_array(x_obj, "x");
        if (!xo) throw ValueError("x: required");
        const FloatArray& x = *xo;
        if (x.ndim() != 1) throw ValueError("x: expected a 1-D array");
        const size_t n = static_cast<size_t>(x.size());
        auto buf = guarded_copy(x.data(), n);
        {
          py::gil_scoped_release release;
          kt.activation(act, buf->data(), static_cast<int64_t>(n));
        }
        return result_array(*buf, {static_cast<py::ssize_t>(n)});
      },
      py::arg("isa"), py::arg("name"), py::arg("x"), py::arg("alpha") = 0.0f, py::arg("beta") = 0.0f);

  t.def(
      "log",
      [](const std::string& isa, py::handle x_obj) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto xo = float_array(x_obj, "x");
        if (!xo || xo->ndim() != 1) throw ValueError("x: expected a 1-D array");
        const size_t n = static_cast<size_t>(xo->size());
        auto buf = guarded_copy(xo->data(), n);
        {
          py::gil_scoped_release release;
          kt.log(buf->data(), buf->data(), static_cast<int64_t>(n));
        }
        return result_array(*buf, {static_cast<py::ssize_t>(n)});
      },
      py::arg("isa"), py::arg("x"), "log(x) through one ISA's kernel, in place on a guarded copy.");

  t.def(
      "add_scaled",
      [](const std::string& isa, py::handle d_obj, py::handle s_obj, float w) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto d = float_array(d_obj, "d");
        const auto s = float_array(s_obj, "s");
        if (!d || !s) throw ValueError("d and s: required");
        if (d->ndim() != 1 || s->ndim() != 1 || d->size() != s->size())
          throw ValueError("d and s: expected 1-D arrays of one length");
        const size_t n = static_cast<size_t>(d->size());
        auto dbuf = guarded_copy(d->data(), n);
        auto sbuf = guarded_copy(s->data(), n);
        {
          py::gil_scoped_release release;
          kt.add_scaled(dbuf->data(), sbuf->data(), w, static_cast<int64_t>(n));
        }
        return result_array(*dbuf, {static_cast<py::ssize_t>(n)});
      },
      py::arg("isa"), py::arg("d"), py::arg("s"), py::arg("w"),
      "d + s * w through one ISA's add_scaled kernel, on guarded copies.");

  t.def(
      "gemm",
      [](const std::string& isa, py::handle A_obj, py::handle W_obj, py::handle bias_obj) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto Ao = float_array(A_obj, "A");
        const auto Wo = float_array(W_obj, "W");
        const auto bias = float_array(bias_obj, "bias");
        if (!Ao || !Wo) throw ValueError("gemm: A and W are required");
        const FloatArray& A = *Ao;
        const FloatArray& W = *Wo;
        if (A.ndim() != 2 || W.ndim() != 2 || A.shape(1) != W.shape(1))
          throw ValueError("gemm: expected A [M, K] and W [N, K]");
        const int64_t M = A.shape(0), K = A.shape(1), N = W.shape(0);
        if (bias && (bias->ndim() != 1 || bias->shape(0) != N)) throw ValueError("bias: expected shape [N]");
        auto a = guarded_copy(A.data(), static_cast<size_t>(M * K));
        auto b = guarded_packed(W);
        std::unique_ptr<GuardedFloats> bs = bias ? guarded_copy(bias->data(), static_cast<size_t>(N)) : nullptr;
        auto c = std::make_unique<GuardedFloats>(static_cast<size_t>(M * N));
        {
          py::gil_scoped_release release;
          kt.gemm(M, N, K, a->data(), K, b->data(), bs ? bs->data() : nullptr, false, c->data(), N);
        }
        return result_array(*c, {static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
      },
      py::arg("isa"), py::arg("A"), py::arg("W"), py::arg("bias") = py::none());

  // The recurrent product of one row (KernelTable::recurrent_gemv), on a W [N, K] packed here.
  t.def(
      "recurrent_gemv",
      [](const std::string& isa, py::handle a_obj, py::handle W_obj, int64_t split, bool upper_first) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto ao = float_array(a_obj, "a");
        const auto Wo = float_array(W_obj, "W");
        if (!ao || !Wo) throw ValueError("recurrent_gemv: a and W are required");
        const FloatArray& a = *ao;
        const FloatArray& W = *Wo;
        if (a.ndim() != 1 || W.ndim() != 2 || a.shape(0) != W.shape(1))
          throw ValueError("recurrent_gemv: expected a [K] and W [N, K]");
        const int64_t N = W.shape(0), K = W.shape(1);
        if (split < 0) throw ValueError("recurrent_gemv: split must be >= 0");
        auto av = guarded_copy(a.data(), static_cast<size_t>(K));
        auto b = guarded_packed(W);
        auto c = std::make_unique<GuardedFloats>(static_cast<size_t>(N));
        {
          py::gil_scoped_release release;
          kt.recurrent_gemv(N, K, split, upper_first, av->data(), b->data(), c->data());
        }
        return result_array(*c, {static_cast<py::ssize_t>(N)});
      },
      py::arg("isa"), py::arg("a"), py::arg("W"), py::arg("split"), py::arg("upper_first"));

  // The recurrent product of several rows (KernelTable::recurrent_gemm), A [M, K], W [N, K].
  t.def(
      "recurrent_gemm",
      [](const std::string& isa, py::handle A_obj, py::handle W_obj, int64_t split) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto Ao = float_array(A_obj, "A");
        const auto Wo = float_array(W_obj, "W");
        if (!Ao || !Wo) throw ValueError("recurrent_gemm: A and W are required");
        const FloatArray& A = *Ao;
        const FloatArray& W = *Wo;
        if (A.ndim() != 2 || W.ndim() != 2 || A.shape(1) != W.shape(1))
          throw ValueError("recurrent_gemm: expected A [M, K] and W [N, K]");
        const int64_t M = A.shape(0), N = W.shape(0), K = W.shape(1);
        if (split < 0) throw ValueError("recurrent_gemm: split must be >= 0");
        auto a = guarded_copy(A.data(), static_cast<size_t>(M * K));
        auto b = guarded_packed(W);
        auto c = std::make_unique<GuardedFloats>(static_cast<size_t>(M * N));
        {
          py::gil_scoped_release release;
          kt.recurrent_gemm(M, N, K, split, a->data(), K, b->data(), c->data(), N);
        }
        return result_array(*c, {static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
      },
      py::arg("isa"), py::arg("A"), py::arg("W"), py::arg("split"));
}

// The low-precision GEMMs and conversions, every compiled variant. Why this is long: a list of
// independent bindings, each checking and converting its arguments.
void register_lowp_kernel_tests(py::module_& t) {
  // The low-precision GEMMs: every compiled variant, run directly on a W [N, K] packed here and
  // an A [M, K] converted as lstmrt::gemm converts it.
  t.def("lowp_variants", [] {
    py::list out;
    for (const LowpVariant& v : lowp_variants()) {
      py::dict d;
      d["name"] = v.name;
      d["precision"] = weight_type_name(v.type);
      d["supported"] = v.supported;
      out.append(d);
    }
    return out;
  }, "Every compiled low-precision GEMM variant: name, precision and whether this CPU runs it.");
  t.def(
      "lowp_gemm",
      [](const std::string& variant, const std::string& precision, py::handle A_obj, py::handle W_obj,
         py::handle bias_obj, py::handle C_obj) {
        const WeightType type = parse_weight_type(precision);
        LowpGemmFn fn = nullptr;
        for (const LowpVariant& v : lowp_variants()) {
          if (v.name != variant || v.type != type) continue;
          if (!v.supported) throw UnsupportedError("lowp_gemm: this CPU cannot run variant '" + variant + "'");
          fn = v.gemm;
        }
        if (type == WeightType::F32 || fn == nullptr)
          throw ValueError("lowp_gemm: no " + precision + " variant named '" + variant + "'");
        const auto Ao = float_array(A_obj, "A");
        const auto Wo = float_array(W_obj, "W");
        const auto bias = float_array(bias_obj, "bias");
        const auto Co = float_array(C_obj, "C");
        if (!Ao || !Wo || Ao->ndim() != 2 || Wo->ndim() != 2 || Ao->shape(1) != Wo->shape(1))
          throw ValueError("lowp_gemm: expected A [M, K] and W [N, K]");
        const int64_t M = Ao->shape(0), K = Ao->shape(1), N = Wo->shape(0);
        if (bias && (bias->ndim() != 1 || bias->shape(0) != N)) throw ValueError("bias: expected shape [N]");
        if (Co && (Co->ndim() != 2 || Co->shape(0) != M || Co->shape(1) != N)) throw ValueError("C: expected [M, N]");
        const PackedMatrix packed(Wo->data(), N, K, K, type);
        const int64_t kp = packed.k_padded();
        auto b = guarded_copy(static_cast<const float*>(packed.panel_data(0)),
                              static_cast<size_t>(packed.panels() * packed.panel_bytes() / 4));
        const size_t elem = type == WeightType::I8 ? 1 : 2;
        auto a = std::make_unique<GuardedFloats>((static_cast<size_t>(M * kp) * elem + 3) / 4);
        std::vector<float> a_scale(static_cast<size_t>(M));
        std::vector<int32_t> a_zero(static_cast<size_t>(M));
        auto c = Co ? guarded_copy(Co->data(), static_cast<size_t>(M * N)) : std::make_unique<GuardedFloats>(static_cast<size_t>(M * N));
        auto bs = bias ? guarded_copy(bias->data(), static_cast<size_t>(N)) : nullptr;
        // The portable converters (the generic table's): every path gives the same bytes.
        LowpGemmArgs g = prepare_lowp_gemm(kernels_for(Isa::Generic), M, Ao->data(), K, packed, a->data(),
                                           a_scale.data(), a_zero.data(), bs ? bs->data() : nullptr, Co.has_value(),
                                           c->data(), N);
        g.B = b->data();  // the guarded copy of the panels
        {
          py::gil_scoped_release release;
          fn(g);
        }
        return result_array(*c, {static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
      },
      py::arg("variant"), py::arg("precision"), py::arg("A"), py::arg("W"), py::arg("bias") = py::none(),
      py::arg("C") = py::none(),
      "C = A·Wᵀ (+ bias, or + C when C is given) by one low-precision variant (KernelTable's contract).");
  t.def(
      "lowp_pack",
      [](py::handle W_obj, const std::string& precision) {
        const WeightType type = parse_weight_type(precision);
        const auto Wo = float_array(W_obj, "W");
        if (!Wo || Wo->ndim() != 2) throw ValueError("lowp_pack: expected W [N, K]");
        const int64_t N = Wo->shape(0), K = Wo->shape(1);
        const PackedMatrix packed(Wo->data(), N, K, K, type);
        // Read back through the documented layout: the test checks the layout and the rounding.
        const int64_t kg = k_group(type);
        py::array_t<float> values({N, K});
        float* v = values.mutable_data();
        for (int64_t n = 0; n < N; ++n) {
          const char* panel = static_cast<const char*>(packed.panel_data(n / kPanelWidth));
          for (int64_t k = 0; k < K; ++k) {
            const int64_t at = (k / kg) * kg * kPanelWidth + (n % kPanelWidth) * kg + k % kg;
            if (type == WeightType::F32) v[n * K + k] = reinterpret_cast<const float*>(panel)[k * kPanelWidth + n % kPanelWidth];
            if (type == WeightType::BF16) v[n * K + k] = bf16_to_float(reinterpret_cast<const uint16_t*>(panel)[at]);
            if (type == WeightType::I8) v[n * K + k] = static_cast<float>(reinterpret_cast<const int8_t*>(panel)[at]);
          }
        }
        py::array_t<float> scales(static_cast<py::ssize_t>(N));
        py::array_t<int32_t> sums(static_cast<py::ssize_t>(N));
        for (int64_t n = 0; n < N; ++n) {
          scales.mutable_data()[n] = type == WeightType::I8 ? packed.scales()[n] : 1.0f;
          sums.mutable_data()[n] = type == WeightType::I8 ? packed.column_sums()[n] : 0;
        }
        return py::make_tuple(values, scales, sums, packed.lost_weight_fraction());
      },
      py::arg("W"), py::arg("precision"),
      "(values [N, K] as packed (int8: the integers), scales [N], column sums [N], lost weight fraction).");
  t.def(
      "quantize_rows",
      [](py::handle A_obj, const std::string& isa) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto Ao = float_array(A_obj, "A");
        if (!Ao || Ao->ndim() != 2) throw ValueError("quantize_rows: expected A [M, K]");
        const int64_t M = Ao->shape(0), K = Ao->shape(1);
        py::array_t<uint8_t> q({M, K});
        py::array_t<float> scale(static_cast<py::ssize_t>(M));
        py::array_t<int32_t> zero(static_cast<py::ssize_t>(M));
        for (int64_t m = 0; m < M; ++m) {
          const RowQuantization r = kt.quantize_u8(Ao->data() + m * K, K, K, q.mutable_data() + m * K);
          scale.mutable_data()[m] = r.scale;
          zero.mutable_data()[m] = r.zero;
        }
        return py::make_tuple(q, scale, zero);
      },
      py::arg("A"), py::arg("isa") = "generic",
      "Each row of A quantized to uint8 by one ISA's quantizer, as the int8 GEMM does: (q, scale, zero point).");
  t.def(
      "convert_bf16",
      [](py::handle A_obj, const std::string& isa) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto Ao = float_array(A_obj, "A");
        if (!Ao || Ao->ndim() != 1) throw ValueError("convert_bf16: expected a 1-D array");
        const int64_t K = Ao->shape(0);
        auto x = guarded_copy(Ao->data(), static_cast<size_t>(K));
        py::array_t<uint16_t> out(static_cast<py::ssize_t>(K));
        kt.convert_bf16(x->data(), K, K, out.mutable_data());
        return out;
      },
      py::arg("x"), py::arg("isa") = "generic", "x rounded to bfloat16 (the raw 16 bits) by one ISA's converter.");
}

// Timings that the tuning benchmarks read (GEMM, core-to-core latency, gate math).
void register_timing_tests(py::module_& t) {
  t.def(
      "time_gemm",
      [](const std::string& isa, int64_t M, int64_t N, int64_t K, int reps, int threads, bool wall,
         const std::string& precision) {
        // Packs random weights once, then times `reps` products C = A·Wᵀ (kernel microbenchmark).
        const KernelTable& kt = kernels_for(parse_isa(isa));
        std::mt19937 gen(42);
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        std::vector<float> A(static_cast<size_t>(M * K)), W(static_cast<size_t>(N * K)), C(static_cast<size_t>(M * N));
        for (float& v : A) v = dist(gen);
        for (float& v : W) v = dist(gen);
        const PackedMatrix packed(W.data(), N, K, K, parse_weight_type(precision));
        py::gil_scoped_release release;
        return seconds_per_call(reps, wall,
                                [&] { gemm(kt, M, A.data(), K, packed, nullptr, false, C.data(), N, threads); });
      },
      py::arg("isa"), py::arg("M"), py::arg("N"), py::arg("K"), py::arg("reps") = 100, py::arg("threads") = 1,
      py::arg("wall") = false, py::arg("precision") = "fp32",
      "Seconds per packed GEMM call (thread CPU time unless wall=True).");

  t.def(
      "core_to_core_ns",
      [](int cpu_a, int cpu_b, int64_t round_trips) {
        py::gil_scoped_release release;
        return core_to_core_ns(cpu_a, cpu_b, round_trips);
      },
      py::arg("cpu_a") = 0, py::arg("cpu_b") = 1, py::arg("round_trips") = 20000,
      "Nanoseconds for a write on cpu_a to be seen on cpu_b (half a ping-pong round trip between two "
      "pinned threads): which placement a virtual machine's CPUs have at the moment.");

  t.def(
      "time_gates",
      [](const std::string& isa, const std::string& cell, int64_t hidden, int reps) {
        // The gate math alone on one row of `hidden` cells whose inputs stay in L1: the
        // elementwise part of every step, with default activations, no clip or peepholes, and
        // GRU's linear_before_reset = 1 (both stages), as the benchmark matrix runs them.
        if (hidden < 1 || reps < 1) throw ValueError("time_gates: hidden and reps must be positive");
        if (cell != "LSTM" && cell != "GRU") throw ValueError("time_gates: cell must be 'LSTM' or 'GRU', got '" + cell + "'");
        const KernelTable& kt = kernels_for(parse_isa(isa));
        std::mt19937 gen(7);
        std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
        const size_t n = static_cast<size_t>(hidden);
        std::vector<float> xw(4 * n), hr(4 * n), rb(n), c(n), h(n), z(n), r(n);
        for (auto* v : {&xw, &hr, &rb, &c, &h})
          for (float& x : *v) x = dist(gen);
        const Activation sig{ActKind::Sigmoid}, tanh{ActKind::Tanh};
        py::gil_scoped_release release;
        if (cell == "LSTM") {
          // C_t overwrites C_{t-1}, so each call continues from the last, as steps do.
          const LstmRowArgs a{xw.data(), hr.data(), c.data(), c.data(), h.data(), nullptr, hidden, sig, tanh, tanh,
                              0.0f, false};
          return seconds_per_call(reps, false, [&] { kt.lstm_row(a); });
        }
        GruRowArgs a{};
        a.xw = xw.data();
        a.hr_zr = hr.data();
        a.hr_h = hr.data() + 2 * n;
        a.rb_h = rb.data();
        a.h_prev = h.data();
        a.z = z.data();
        a.r_or_rh = r.data();
        a.h_out = h.data();
        a.hidden = hidden;
        a.f = sig;
        a.g = tanh;
        a.linear_before_reset = true;
        return seconds_per_call(reps, false, [&] {
          kt.gru_row_stage1(a);
          kt.gru_row_stage2(a);
        });
      },
      py::arg("isa"), py::arg("cell"), py::arg("hidden"), py::arg("reps") = 1000,
      "Seconds per row of a step's gate math (thread CPU time).");
}

}  // namespace

void register_conv_kernel_tests(py::module_& t);  // conv_test_bindings.cc

void register_kernel_tests(py::module_& m) {
  py::module_ t = m.def_submodule("testing", "Direct access to one ISA's kernels (for tests).");
  register_pool_tests(t);
  register_fp32_kernel_tests(t);
  register_conv_kernel_tests(t);
  register_lowp_kernel_tests(t);
  register_timing_tests(t);
}

}  // namespace lstmrt
