// Stateful mode of one layer: the recurrent state stays in the engine between calls, so a
// stream is fed chunk by chunk (down to one timestep per call).
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "lstmrt/rnn_layer.h"

namespace lstmrt {

class RnnStream {
 public:
  // Throws ValueError when the layer cannot stream: a reverse or bidirectional layer reads each
  // sequence from its end, which a stream has not seen yet.
  explicit RnnStream(const RnnLayer& layer);

  const RnnLayer& layer() const { return layer_; }

  // The state's shape for the batch size this stream has (empty before the first call).
  std::vector<int64_t> state_shape() const;
  bool started() const { return started_; }
  int64_t batch() const { return batch_; }

  // Checks the inputs, without touching the state: throws if they cannot run on this stream
  // (shapes, or a batch size other than the stream's).
  RnnShapes check(const std::vector<int64_t>& x_shape, const int32_t* lens, const std::vector<int64_t>* lens_shape,
                  const std::vector<int64_t>* h_shape, const std::vector<int64_t>* c_shape) const;

  // Runs one chunk. initial_h / initial_c, when given, replace the carried state for this call;
  // otherwise the carried state (zeros on the first call) is used. Afterwards the stream holds
  // Y_h / Y_c. Call under lock(): one chunk at a time per stream.
  void run(const RnnShapes& s, const float* X, const int32_t* lens, const float* initial_h, const float* initial_c,
           float* Y, float* Y_h, float* Y_c, int threads);

  void reset();
  // Copies of the state ([1, batch, H] or [batch, 1, H] by the layer's layout).
  const std::vector<float>& h() const { return h_; }
  const std::vector<float>& c() const { return c_; }
  // Replaces the state; sizes must match state_shape() for `batch`.
  void set_state(int64_t batch, const float* h, const float* c);

  std::mutex& mutex() { return mutex_; }

 private:
  const RnnLayer& layer_;
  bool started_ = false;
  int64_t batch_ = 0;
  std::vector<float> h_, c_;
  Workspace ws_;
  std::mutex mutex_;
};

}  // namespace lstmrt
