// One ONNX LSTM, GRU or RNN layer: attributes decoded and weights packed once, then run many
// times on float32 inputs. The forward pass has the complete ONNX semantics (directions, both
// layouts, sequence_lens, initial states, peepholes, clip, input_forget, linear_before_reset and
// every activation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lstmrt/activation.h"
#include "lstmrt/packed_matrix.h"

namespace lstmrt {

enum class CellKind { LSTM, GRU, RNN };
enum class Direction { Forward, Reverse, Bidirectional };

const char* cell_name(CellKind cell);
// Gates per cell: LSTM 4 (i, o, f, c), GRU 3 (z, r, h), RNN 1.
int gate_count(CellKind cell);
// Activation functions per direction: LSTM 3 (f, g, h), GRU 2 (f, g), RNN 1 (f).
int activation_count(CellKind cell);

// The ONNX attributes as given (strings and lists), before validation.
struct RnnAttributes {
  CellKind cell = CellKind::LSTM;
  int64_t hidden_size = 0;  // 0: taken from R
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

// Reusable scratch memory for run(): grows to the largest shape seen, never shrinks.
class Workspace {
 public:
  float* get(int slot, size_t count);

 private:
  std::vector<AlignedBuffer> buffers_;
  std::vector<size_t> sizes_;
};

struct RnnShapes {
  int64_t seq = 0;
  int64_t batch = 0;
};

class RnnLayer {
 public:
  RnnLayer(const RnnAttributes& attributes, const FloatArg& W, const FloatArg& R, const FloatArg& B,
           const FloatArg& P);

  CellKind cell() const { return cell_; }
  Direction direction() const { return direction_; }
  int num_directions() const { return num_dir_; }
  int64_t hidden_size() const { return hidden_; }
  int64_t input_size() const { return input_; }
  int64_t layout() const { return layout_; }
  const std::vector<Activation>& activations() const { return acts_; }
  const std::string& context() const { return context_; }

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
  struct DirectionWeights {
    PackedMatrix w;     // input weights, all gates: X·Wᵀ
    PackedMatrix r;     // recurrent weights, all gates (GRU with linear_before_reset=0: z, r only)
    PackedMatrix r_h;   // GRU with linear_before_reset=0: the h gate's recurrent weights
    AlignedBuffer bias;  // added to X·Wᵀ (see the packing code for which biases per cell)
    AlignedBuffer rb_h;  // GRU with linear_before_reset=1: Rbh, applied inside r ⊙ (...)
    AlignedBuffer peephole;  // LSTM: [3*hidden] i, o, f, or null
  };

  void run_direction(int d, bool reverse, const RnnShapes& s, const float* X, const int32_t* lens,
                     const float* initial_h, const float* initial_c, float* Y, float* Y_h, float* Y_c,
                     Workspace& ws, int slot_base, int threads) const;
  std::string where(const std::string& argument) const;

  CellKind cell_;
  Direction direction_;
  int num_dir_;
  int64_t hidden_;
  int64_t input_;
  int64_t layout_;
  float clip_;  // <= 0: none
  bool input_forget_;
  bool linear_before_reset_;
  std::vector<Activation> acts_;  // activation_count(cell) per direction
  std::vector<DirectionWeights> dirs_;
  std::string context_;
};

}  // namespace lstmrt
