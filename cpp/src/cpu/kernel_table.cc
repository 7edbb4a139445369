// Builds one kernel table per ISA (once, on first use) and holds the process-wide choice.
#include <atomic>
#include <cstdlib>
#include <string>

#include "cpu/lowp_variants.h"
#include "lstmrt/errors.h"
#include "cpu/kernels.h"

namespace lstmrt {
namespace {

struct Tables {
  KernelTable by_isa[3];
  Tables() {
    // Generic first; a faster path overwrites every entry it implements.
    for (KernelTable& t : by_isa) fill_generic_kernels(t);
#if LSTMRT_HAVE_AVX2
    fill_avx2_kernels(by_isa[static_cast<int>(Isa::Avx2)]);
#endif
#if LSTMRT_HAVE_AVX512
    fill_avx512_kernels(by_isa[static_cast<int>(Isa::Avx512)]);
#endif
    for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) fill_lowp_kernels(by_isa[static_cast<int>(isa)], isa);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

Isa best_isa() {
  Isa best = Isa::Generic;
  for (Isa isa : supported_isas()) best = isa;
  return best;
}

// LSTMRT_ISA forces a path; an unknown name or one the CPU lacks is an error at first use
// (it surfaces as an ImportError-time exception in Python rather than a silent fallback).
Isa initial_isa() {
  const char* env = std::getenv("LSTMRT_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  const Isa isa = parse_isa(env);
  if (!isa_supported(isa))
    throw UnsupportedError(std::string("LSTMRT_ISA=") + env + " but this " +
                           (isa_compiled(isa) ? "CPU cannot run it (or LSTMRT_DISABLE_ISA excludes it)"
                                              : "build does not contain it"));
  return isa;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

const KernelTable& kernels() { return tables().by_isa[active_slot().load(std::memory_order_relaxed)]; }

const KernelTable& kernels_for(Isa isa) {
  if (!isa_supported(isa))
    throw UnsupportedError(std::string("the ") + isa_name(isa) + " kernels " +
                           (isa_compiled(isa) ? "cannot run on this CPU (or LSTMRT_DISABLE_ISA excludes them)"
                                              : "are not compiled into this build"));
  return tables().by_isa[static_cast<int>(isa)];
}

Isa set_active_isa(Isa isa) {
  kernels_for(isa);  // throws if unsupported
  return static_cast<Isa>(active_slot().exchange(static_cast<int>(isa)));
}

}  // namespace lstmrt
