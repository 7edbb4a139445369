// One ONNX LSTM, GRU or RNN layer: attributes decoded and weights packed once, then run many
// times on float32 inputs. The forward pass has the complete ONNX semantics (directions, both
// layouts, sequence_lens, initial states, peepholes, clip, input_forget, linear_before_reset and
// every activation).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lstmrt/activation.h"
#include "lstmrt/weight_type.h"

namespace lstmrt {

enum class CellKind { LSTM, GRU, RNN };
enum class Direction { Forward, Reverse, Bidirectional };

const char* cell_name(CellKind cell);
// "forward", "reverse" or "bidirectional", as in the ONNX attribute.
const char* direction_name(Direction direction);
// Gates per cell: LSTM 4 (i, o, f, c), GRU 3 (z, r, h), RNN 1.
int gate_count(CellKind cell);
// Activation functions per direction: LSTM 3 (f, g, h), GRU 2 (f, g), RNN 1 (f).
int activation_count(CellKind cell);

// The ONNX attributes as given (strings and lists), before validation.
struct RnnAttributes {
  CellKind cell = CellKind::LSTM;
  bool has_hidden_size = false;  // absent: taken from R
  int64_t hidden_size = 0;
  std::string direction = "forward";
  int64_t layout = 0;
  std::vector<std::string> activations;  // empty: the cell's defaults
  std::vector<float> activation_alpha;
  std::vector<float> activation_beta;
  bool has_clip = false;
  float clip = 0.0f;
  int64_t input_forget = 0;
  int64_t linear_before_reset = 0;
  // Names the layer in error messages ("LSTM node 'encoder'"); empty for the plain ops API.
  std::string context;
};

// A float32 array handed to the layer: contiguous, row-major. data == nullptr means absent.
struct FloatArg {
  const float* data = nullptr;
  std::vector<int64_t> shape;
  bool present() const { return data != nullptr; }
};

struct WorkspaceState;  // defined in lstmrt's sources (cpp/src/rnn/workspace_impl.h)

// Reusable scratch memory for run(): grows to the largest shape seen, never shrinks. One call at a
// time. It also keeps the step schedulers (one per direction), whose marks then stay in the
// caches of the cores that own them from one call to the next. Allocated once, at construction.
class Workspace {
 public:
  Workspace();
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // The buffers and schedulers, for the layer's own use.
  WorkspaceState& state() { return *state_; }

 private:
  std::unique_ptr<WorkspaceState> state_;
};

struct RnnShapes {
  int64_t seq = 0;
  int64_t batch = 0;
};

class RnnLayer {
 public:
  // `threads` (<= 0: the default) sets how many partitions of the hidden units the weights are
  // packed into; a call may still use fewer threads (each then works several partitions).
  // `weights` is the type W and R are packed in (see weight_type.h); biases, peepholes and
  // every state stay float32.
  RnnLayer(const RnnAttributes& attributes, const FloatArg& W, const FloatArg& R, const FloatArg& B,
           const FloatArg& P, int threads = 0, WeightType weights = WeightType::F32);
  ~RnnLayer();
  RnnLayer(RnnLayer&&) noexcept;
  RnnLayer& operator=(RnnLayer&&) noexcept;

  CellKind cell() const { return cell_; }
  Direction direction() const { return direction_; }
  int num_directions() const { return num_dir_; }
  int64_t hidden_size() const { return hidden_; }
  int64_t input_size() const { return input_; }
  int64_t layout() const { return layout_; }
  WeightType weight_type() const { return weights_; }
  // int8: the largest share of one output channel's weights rounded to 0, in W or in R.
  double lost_weight_fraction(bool recurrent) const;
  const std::vector<Activation>& activations() const { return acts_; }
  const std::string& context() const { return context_; }
  float clip() const { return clip_; }  // <= 0: none
  bool input_forget() const { return input_forget_; }
  bool linear_before_reset() const { return linear_before_reset_; }
  // Partitions of the hidden units per direction in the split for threads, and whether the layer
  // also keeps a whole copy (one partition) for the calls that run on one thread.
  int partitions() const;
  bool has_whole_copy() const;
  // `argument` of this layer, named for an error message ("LSTM node 'encoder': W").
  std::string where(const std::string& argument) const;

  // Checks X, sequence_lens, initial_h and initial_c against the layer; throws TypeError or
  // ValueError naming the argument with the expected and actual shape. Returns seq and batch.
  RnnShapes check_inputs(const std::vector<int64_t>& x_shape, const int32_t* sequence_lens,
                         const std::vector<int64_t>* sequence_lens_shape,
                         const std::vector<int64_t>* initial_h_shape,
                         const std::vector<int64_t>* initial_c_shape) const;

  std::vector<int64_t> y_shape(const RnnShapes& s) const;
  std::vector<int64_t> state_shape(const RnnShapes& s) const;

  // Runs the layer. Inputs must have passed check_inputs. Any output pointer may be null when
  // that output is not wanted. `threads` <= 0 means the default.
  void run(const RnnShapes& s, const float* X, const int32_t* sequence_lens, const float* initial_h,
           const float* initial_c, float* Y, float* Y_h, float* Y_c, Workspace& ws, int threads) const;

 private:
  // The weights packed for the threads (cpp/src/rnn/layer_packing.h).
  struct Packed;

  void parse_attributes(const RnnAttributes& attributes);
  void check_weights(const RnnAttributes& attributes, const FloatArg& W, const FloatArg& R, const FloatArg& B,
                     const FloatArg& P);
  void parse_activations(const RnnAttributes& attributes);

  CellKind cell_;
  Direction direction_;
  int num_dir_;
  int64_t hidden_;
  int64_t input_;
  int64_t layout_;
  WeightType weights_;
  float clip_;  // <= 0: none
  bool input_forget_;
  bool linear_before_reset_;
  std::vector<Activation> acts_;  // activation_count(cell) per direction
  std::string context_;
  std::unique_ptr<const Packed> packed_;
};

}  // namespace lstmrt
