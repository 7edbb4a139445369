// How far apart two CPUs are, measured: the one-way time for a cache line written on one CPU to
// be seen on the other. On a virtual machine the host decides where the virtual CPUs run, and
// may move them; this is how a benchmark learns which placement its rows ran under.
#pragma once

#include <cstdint>

namespace lstmrt {

// Nanoseconds for one write on `cpu_a` to be seen on `cpu_b` (half a round trip, averaged over
// `round_trips` ping-pongs between a thread pinned to each). Throws UnsupportedError where threads
// cannot be pinned (not Linux) and ValueError for a CPU this process may not run on.
double core_to_core_ns(int cpu_a, int cpu_b, int64_t round_trips);

}  // namespace lstmrt
