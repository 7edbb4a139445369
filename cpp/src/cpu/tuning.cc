#include "cpu/tuning.h"

#include <algorithm>
#include <cstdlib>

#include "lstmrt/cpu_features.h"

namespace lstmrt {

Tuning tuning_for_l2(int64_t l2_bytes) {
  Tuning t;
  t.l2_bytes = l2_bytes > 0 ? l2_bytes : kFallbackL2Bytes;
  t.tuned_l2_bytes = std::min(t.l2_bytes, kMaxTunedL2Bytes);
  const double l2 = static_cast<double>(t.tuned_l2_bytes);
  t.max_shared_recurrent_bytes = l2 / 2;
  t.max_shared_recurrent_bytes_many_rows = l2;
  t.max_step_projection_weight_bytes = l2;
  t.max_direction_share_bytes_in_turn = static_cast<double>(t.l2_bytes);
  t.gemm_max_shared_weight_bytes = l2;
  return t;
}

const Tuning& tuning() {
  // LSTMRT_L2_BYTES replaces the detected L2, so that the plans of another cache size can be
  // replayed and timed on this machine (bench/TUNING.md).
  static const Tuning machine = [] {
    const char* env = std::getenv("LSTMRT_L2_BYTES");
    const long long forced = env ? std::atoll(env) : 0;
    return tuning_for_l2(forced > 0 ? forced : cpu_features().l2_bytes_per_core);
  }();
  return machine;
}

}  // namespace lstmrt
