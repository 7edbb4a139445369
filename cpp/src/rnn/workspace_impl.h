// What a Workspace holds: a layer call's scratch buffers, by direction and name, and the step
// schedulers (one per direction), whose marks then stay in the caches of the cores that own them
// from one call to the next.
#pragma once

#include <cstddef>

#include "cpu/packed_matrix.h"
#include "cpu/phase_scheduler.h"
#include "lstmrt/rnn_layer.h"

namespace lstmrt {

// The scratch buffers of one direction (their layouts: DirectionBuffers in call_team.h).
enum class Slot {
  InputProjection,   // X·Wᵀ + bias
  RecurrentProduct,  // H_{t-1}·Rᵀ
  HiddenState,       // H_{t-1} and H_t
  CellState,         // LSTM: C
  UpdateGate,        // GRU: z
  ResetGate,         // GRU: r, or r ⊙ H_{t-1}
  ResetProduct,      // GRU, linear_before_reset=0: (r ⊙ H_{t-1})·R_hᵀ
  Count,
};

struct WorkspaceState {
  // Direction d's buffer `slot`, of at least `count` floats: grown to the largest call seen, never
  // shrunk. A call fetches all of them before any thread starts, since growing reallocates.
  float* get(int d, Slot slot, size_t count) {
    const int s = static_cast<int>(slot);
    if (sizes[d][s] < count) {
      buffers[d][s] = aligned_alloc_floats(count);
      sizes[d][s] = count;
    }
    return buffers[d][s].get();
  }

  PhaseScheduler schedulers[2];

 private:
  static constexpr int kSlots = static_cast<int>(Slot::Count);
  AlignedBuffer buffers[2][kSlots];
  size_t sizes[2][kSlots] = {};
};

}  // namespace lstmrt
