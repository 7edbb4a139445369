// Helpers shared by the op implementations: axes, broadcasting, dtype dispatch, strided loops.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "lstmrt/errors.h"
#include "lstmrt/graph/op.h"
#include "lstmrt/graph/tensor.h"
#include "small_vector.h"

namespace lstmrt {

// shape_to_string for the ops' own shapes (DimVector), for messages.
inline std::string shape_to_string(Dims shape) { return shape_to_string(shape.to_shape()); }

// Maps an ONNX axis in [-rank, rank) to [0, rank); throws ValueError naming `what` otherwise.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

// NumPy broadcasting of two shapes; throws ValueError with both shapes when they do not match.
DimVector broadcast_shapes(Dims a, Dims b);

// Row-major strides (in elements) of `shape` as seen from an output of rank `rank` under
// broadcasting: leading missing dims and size-1 dims that the output stretches get stride 0.
DimVector broadcast_strides(Dims shape, Dims out);

// Whether `shape` is the last dims of `out` (then it broadcasts to `out` by repeating).
bool ends_with(Dims out, Dims shape);

// Row-major strides of a shape, in elements.
DimVector row_major_strides(Dims shape);

// A loop over an output shape with up to 3 operands, each with its own strides. Adjacent dims
// are merged where every operand allows it, so the common cases (same shape, a scalar, a bias
// over the last dims) become one long inner loop. for_each_row calls
// fn(offsets[3], inner_count) with each operand's offset of the row's first element; inside a
// row operand k advances by inner_stride[k] (0 or its stride).
class StridedLoop {
 public:
  // One stride list per operand (at most 3), each as long as `out`.
  StridedLoop(Dims out, std::initializer_list<Dims> strides);

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
    DimVector idx(nd, 0);
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
  DimVector outer_dims_;
  SmallVector<std::array<int64_t, 3>, 8> outer_strides_;
};

// A shape seen as [outer, n, inner] around one axis: the product of the dims before it, the
// axis's length, and the product of the dims after it. The operators that work along one axis
// (Concat, Split, Gather, TopK, Softmax, ArgMax, Scan) all index through it.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
  AxisSplit(Dims shape, size_t axis) {
    for (size_t d = 0; d < shape.size(); ++d) (d < axis ? outer : (d == axis ? n : inner)) *= shape[d];
  }
  // Calls fn(base, o, i) for every lane along the axis: the n elements base, base + inner, ...,
  // base + (n - 1) * inner of outer block o at inner position i.
  template <class Fn>
  void for_each_lane(Fn&& fn) const {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) fn(o * n * inner + i, o, i);
  }
};

// Copies axis positions [from, from + count) of `src`, seen as [outer, src_n, inner], to positions
// [to, to + count) of `dst`, seen as [outer, dst_n, inner], in every outer block; elements are
// `es` bytes.
inline void copy_along_axis(const void* src, int64_t src_n, int64_t from, void* dst, int64_t dst_n, int64_t to,
                            int64_t count, int64_t outer, int64_t inner, size_t es) {
  const size_t bytes = static_cast<size_t>(count * inner) * es;
  if (bytes == 0) return;
  const char* s = static_cast<const char*>(src) + static_cast<size_t>(from * inner) * es;
  char* d = static_cast<char*>(dst) + static_cast<size_t>(to * inner) * es;
  const size_t src_block = static_cast<size_t>(src_n * inner) * es, dst_block = static_cast<size_t>(dst_n * inner) * es;
  for (int64_t o = 0; o < outer; ++o) std::memcpy(d + o * dst_block, s + o * src_block, bytes);
}

// What an op derived from its inputs' shapes (and small integer inputs such as axes) in the last
// run of its node in this plan: runs of the same shapes (every step of a stream) reuse it instead
// of deriving and checking it again. An op describes this run's inputs with begin() and add*(),
// and on a hit() uses `shape` (and `aux`); otherwise it derives them and store()s them.
struct ShapeMemo final : OpState {
  std::vector<int64_t> key;   // the inputs of the run that `shape` belongs to
  std::vector<int64_t> next;  // this run's inputs, being described
  bool valid = false;         // key, shape and aux belong together
  bool describable = true;    // this run's inputs could be described
  Shape shape;                // the output shape
  std::vector<int64_t> aux;   // anything else the op derived (strides, an axis)

  void begin() {
    next.clear();
    describable = true;
  }
  void add(int64_t v) { next.push_back(v); }
  void add_shape(Dims s) {
    next.push_back(static_cast<int64_t>(s.size()));
    next.insert(next.end(), s.begin(), s.end());
  }
  // Adds the values of a small integer tensor of rank 0 or 1; any other makes this run
  // undescribable (never a hit: the op derives, and reports what is wrong with it).
  void add_values(const Tensor& t);
  bool hit() const { return valid && describable && next == key; }
  // hit() for inputs described by one shape alone, checked without describing them first.
  bool hit_shape(Dims s) const {
    if (!valid || key.size() != s.size() + 1 || key[0] != static_cast<int64_t>(s.size())) return false;
    for (size_t i = 0; i < s.size(); ++i)
      if (key[i + 1] != s[i]) return false;
    return true;
  }
  // For inputs described by one shape: false on a hit; otherwise describes this run by `s` and
  // returns true, and the op derives and store()s.
  bool must_derive(Dims s) {
    if (hit_shape(s)) return false;
    begin();
    add_shape(s);
    return true;
  }
  // Remembers what the op derived for this run's inputs (aux is set by the op).
  void store(Dims out) {
    valid = describable;
    key.swap(next);
    shape.assign(out.begin(), out.end());
  }
};

// The ShapeMemo of this node in this plan, made on first use (for ops with no other OpState).
ShapeMemo& shape_memo(RunContext& ctx);

// Calls fn(T()) with T the C++ type of `t` for the numeric types (float, int64_t, int32_t,
// uint8_t, int8_t); bool raises TypeError naming `what`. fn is never instantiated for bool, so its
// arithmetic need not make sense for bool.
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
    case DType::UInt8:
      fn(uint8_t());
      return;
    case DType::Int8:
      fn(int8_t());
      return;
    case DType::Bool:
      break;
  }
  throw TypeError(std::string(what) + ": bool tensors are not supported here");
}

// The same for every dtype, bool included.
template <class Fn>
void dispatch_all(DType t, Fn&& fn) {
  if (t == DType::Bool)
    fn(bool());
  else
    dispatch_numeric(t, "", std::forward<Fn>(fn));
}

// Requires a tensor's dtype; the message names the input.
[[noreturn]] void wrong_dtype(const Tensor& t, DType dtype, const char* what);
inline void expect_dtype(const Tensor& t, DType dtype, const char* what) {
  if (t.dtype() != dtype) wrong_dtype(t, dtype, what);
}
// A list that an opset turned from an attribute into an optional input (Squeeze's axes, Reduce's
// axes, Split's split): the attribute `name` before `input_opset` (or whenever the node has it),
// else nothing, with *from_input telling whether input `slot` gives it at run time.
std::vector<int64_t> list_attr_or_input(const BuildContext& ctx, const char* name, int input_opset, size_t slot,
                                        bool* from_input);

// Requires two operands of one dtype (TypeError naming both).
inline void same_dtype(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw TypeError(std::string("inputs have different types: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
}
// Requires an integer (int64 or int32) tensor.
void expect_integer(const Tensor& t, const char* what);
// The values of a 1-D (or scalar) integer tensor.
DimVector int_values(const Tensor& t, const char* what);
// The single value of a one-element tensor, as double or int64.
double scalar_double(const Tensor& t, const char* what);

// Copies `src` into `dst` (already sized to `out_shape`) under broadcasting.
void broadcast_copy(const Tensor& src, Tensor& dst);

}  // namespace lstmrt
