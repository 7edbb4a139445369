// Helpers shared by the op implementations: axes, broadcasting, dtype dispatch, strided loops.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lstmrt/errors.h"
#include "lstmrt/graph/op.h"
#include "lstmrt/graph/tensor.h"

namespace lstmrt {

// Maps an ONNX axis in [-rank, rank) to [0, rank); throws ValueError naming `what` otherwise.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

// NumPy broadcasting of two shapes; throws ValueError with both shapes when they do not match.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Row-major strides (in elements) of `shape` as seen from an output of rank `rank` under
// broadcasting: leading missing dims and size-1 dims that the output stretches get stride 0.
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out);

// A loop over an output shape with up to 3 operands, each with its own strides. Adjacent dims
// are merged where every operand allows it, so the common cases (same shape, a scalar, a bias
// over the last dims) become one long inner loop. for_each_row calls
// fn(offsets[3], inner_count) with each operand's offset of the row's first element; inside a
// row operand k advances by inner_stride[k] (0 or its stride).
class StridedLoop {
 public:
  StridedLoop(const Shape& out, const std::vector<std::vector<int64_t>>& strides);

  int64_t inner() const { return inner_; }
  int64_t inner_stride(int k) const { return inner_stride_[k]; }

  template <class Fn>
  void for_each_row(Fn&& fn) const {
    std::array<int64_t, 3> off{0, 0, 0};
    if (total_ == 0) return;
    const size_t nd = outer_dims_.size();
    if (nd == 0) {
      fn(off, inner_);
      return;
    }
    std::vector<int64_t> idx(nd, 0);
    for (;;) {
      fn(off, inner_);
      size_t d = nd;
      for (;;) {
        if (d == 0) return;
        --d;
        ++idx[d];
        for (int k = 0; k < n_; ++k) off[k] += outer_strides_[d][k];
        if (idx[d] < outer_dims_[d]) break;
        for (int k = 0; k < n_; ++k) off[k] -= outer_strides_[d][k] * outer_dims_[d];
        idx[d] = 0;
      }
    }
  }

 private:
  int n_ = 0;
  int64_t total_ = 0;
  int64_t inner_ = 1;
  std::array<int64_t, 3> inner_stride_{0, 0, 0};
  std::vector<int64_t> outer_dims_;
  std::vector<std::array<int64_t, 3>> outer_strides_;
};

// Calls fn(T()) with T the C++ type of `t` (float, int64_t, int32_t, bool).
template <class Fn>
void dispatch_all(DType t, Fn&& fn) {
  switch (t) {
    case DType::Float32:
      fn(float());
      return;
    case DType::Int64:
      fn(int64_t());
      return;
    case DType::Int32:
      fn(int32_t());
      return;
    case DType::Bool:
      fn(bool());
      return;
  }
}

// The same for the numeric types only; bool raises TypeError naming `what`.
template <class Fn>
void dispatch_numeric(DType t, const char* what, Fn&& fn) {
  switch (t) {
    case DType::Float32:
      fn(float());
      return;
    case DType::Int64:
      fn(int64_t());
      return;
    case DType::Int32:
      fn(int32_t());
      return;
    case DType::Bool:
      break;
  }
  throw TypeError(std::string(what) + ": bool tensors are not supported here");
}

// Requires a tensor's dtype; the message names the input.
void expect_dtype(const Tensor& t, DType dtype, const char* what);
// Requires an integer (int64 or int32) tensor.
void expect_integer(const Tensor& t, const char* what);
// The values of a 1-D (or scalar) integer tensor.
std::vector<int64_t> int_values(const Tensor& t, const char* what);
// The single value of a one-element tensor, as double or int64.
double scalar_double(const Tensor& t, const char* what);

// Copies `src` into `dst` (already sized to `out_shape`) under broadcasting.
void broadcast_copy(const Tensor& src, Tensor& dst);

}  // namespace lstmrt
