#include "lstmrt/rnn_stream.h"

#include <cstring>

#include "lstmrt/errors.h"

namespace lstmrt {

RnnStream::RnnStream(const RnnLayer& layer) : layer_(layer) {
  if (layer.direction() != Direction::Forward) {
    const std::string who = layer.context().empty() ? cell_name(layer.cell()) : layer.context();
    throw ValueError(who + ": cannot stream a " +
                     (layer.direction() == Direction::Reverse ? std::string("reverse") : std::string("bidirectional")) +
                     " layer: it reads each sequence from its end, which a stream has not received yet");
  }
}

std::vector<int64_t> RnnStream::state_shape() const {
  if (!started_) return {};
  return layer_.state_shape(RnnShapes{0, batch_});
}

RnnShapes RnnStream::check(const std::vector<int64_t>& x_shape, const int32_t* lens,
                           const std::vector<int64_t>* lens_shape, const std::vector<int64_t>* h_shape,
                           const std::vector<int64_t>* c_shape) const {
  const RnnShapes s = layer_.check_inputs(x_shape, lens, lens_shape, h_shape, c_shape);
  if (started_ && s.batch != batch_ && !(h_shape && (c_shape || layer_.cell() != CellKind::LSTM)))
    throw ValueError((layer_.context().empty() ? std::string(cell_name(layer_.cell())) : layer_.context()) +
                     ": X: this stream carries the state of a batch of " + std::to_string(batch_) +
                     " sequences, got a batch of " + std::to_string(s.batch) +
                     " (reset() the stream, or feed initial states for the new batch)");
  return s;
}

void RnnStream::run(const RnnShapes& s, const float* X, const int32_t* lens, const float* initial_h,
                    const float* initial_c, float* Y, float* Y_h, float* Y_c, int threads) {
  const bool lstm = layer_.cell() == CellKind::LSTM;
  const size_t n = static_cast<size_t>(s.batch * layer_.hidden_size());
  if (!started_ || s.batch != batch_) {
    h_.assign(n, 0.0f);
    c_.assign(lstm ? n : 0, 0.0f);
  }
  layer_.run(s, X, lens, initial_h ? initial_h : h_.data(), lstm ? (initial_c ? initial_c : c_.data()) : nullptr, Y,
             Y_h, Y_c, ws_, threads);
  std::memcpy(h_.data(), Y_h, n * sizeof(float));
  if (lstm) std::memcpy(c_.data(), Y_c, n * sizeof(float));
  batch_ = s.batch;
  started_ = true;
}

void RnnStream::reset() {
  started_ = false;
  batch_ = 0;
  h_.clear();
  c_.clear();
}

void RnnStream::set_state(int64_t batch, const float* h, const float* c) {
  const size_t n = static_cast<size_t>(batch * layer_.hidden_size());
  h_.assign(h, h + n);
  if (layer_.cell() == CellKind::LSTM) c_.assign(c, c + n);
  batch_ = batch;
  started_ = true;
}

}  // namespace lstmrt
