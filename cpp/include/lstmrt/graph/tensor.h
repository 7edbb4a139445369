// The graph runtime's tensor: an element type, a shape, and a 64-byte-aligned buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace lstmrt {

// The element types the graph computes with: float32 carries the model's numbers, int64 and int32
// the shape arithmetic that exporters emit, bool the masks of Where/Equal/Not.
// UInt8 and Int8 carry quantized models' tensors (QuantizeLinear, DynamicQuantizeLinear, the
// integer convolution and product); the other ops compute with them as ONNX defines.
enum class DType : uint8_t { Float32, Int64, Int32, Bool, UInt8, Int8 };

using Shape = std::vector<int64_t>;

// Everything lstmrt knows of a DType, in one table that the tensors, the messages, the bindings
// (NumPy arrays) and the Python importer (ONNX element types, through _core.dtypes()) all read.
struct DTypeFacts {
  DType dtype;
  const char* name;       // NumPy's name, used in messages: "float32"
  size_t size;            // bytes per element
  char numpy_kind;        // NumPy's dtype.kind: 'f', 'i', 'u', 'b'
  int onnx_code;          // the ONNX TensorProto element type: FLOAT = 1, UINT8 = 2, INT8 = 3, ...
  const char* onnx_type;  // ONNX Runtime's type string: "tensor(float)"
};

// One row per DType, in the enum's order.
inline constexpr DTypeFacts kDTypeFacts[] = {
    {DType::Float32, "float32", 4, 'f', 1, "tensor(float)"},
    {DType::Int64, "int64", 8, 'i', 7, "tensor(int64)"},
    {DType::Int32, "int32", 4, 'i', 6, "tensor(int32)"},
    {DType::Bool, "bool", 1, 'b', 9, "tensor(bool)"},
    {DType::UInt8, "uint8", 1, 'u', 2, "tensor(uint8)"},
    {DType::Int8, "int8", 1, 'i', 3, "tensor(int8)"},
};
constexpr size_t kNumDTypes = sizeof(kDTypeFacts) / sizeof(kDTypeFacts[0]);
constexpr bool dtype_table_in_enum_order() {
  for (size_t i = 0; i < kNumDTypes; ++i)
    if (static_cast<size_t>(kDTypeFacts[i].dtype) != i) return false;
  return true;
}
static_assert(dtype_table_in_enum_order(), "kDTypeFacts must list the DTypes in enum order");

inline const DTypeFacts& dtype_facts(DType t) { return kDTypeFacts[static_cast<size_t>(t)]; }
// "float32", "int64", "int32", "bool" (NumPy's names).
inline const char* dtype_name(DType t) { return dtype_facts(t).name; }
// "tensor(float)", "tensor(int64)", ... (ONNX Runtime's type strings).
inline const char* onnx_type_string(DType t) { return dtype_facts(t).onnx_type; }
inline size_t dtype_size(DType t) { return dtype_facts(t).size; }
// The ONNX TensorProto element type code (FLOAT = 1, INT64 = 7, INT32 = 6, BOOL = 9).
inline int onnx_type_code(DType t) { return dtype_facts(t).onnx_code; }
// Maps an ONNX element type code to a DType; false for types the runtime does not compute with.
bool dtype_from_onnx(int64_t code, DType* out);
// The DType of NumPy's (kind, itemsize), native byte order; false for types the runtime does not
// compute with.
bool dtype_from_numpy(char kind, size_t itemsize, DType* out);
// "float32, int64, int32, bool, uint8 and int8", for messages.
std::string supported_dtype_names();
// The name of any ONNX element type code ("DOUBLE", "FLOAT16", ...), for messages.
std::string onnx_type_code_name(int64_t code);

template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::Int32;
};
template <>
struct DTypeOf<bool> {
  static constexpr DType value = DType::Bool;
};
template <>
struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::UInt8;
};
template <>
struct DTypeOf<int8_t> {
  static constexpr DType value = DType::Int8;
};

// A read-only view of a shape's dimensions: a Shape, or any container of int64_t with data() and
// size() (the ops' shapes built on the stack, see DimVector). Sizing a tensor through it copies
// the dims into the tensor's own Shape, whose capacity is kept from run to run, so that a run of
// a known shape allocates nothing. It views the container, which must outlive it.
class Dims {
 public:
  Dims() = default;
  Dims(const int64_t* data, size_t size) : data_(data), size_(size) {}
  template <class C, class = std::enable_if_t<std::is_convertible<decltype(std::declval<const C&>().data()),
                                                                  const int64_t*>::value>>
  Dims(const C& dims) : data_(dims.data()), size_(dims.size()) {}

  const int64_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](size_t i) const { return data_[i]; }
  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }
  Shape to_shape() const { return Shape(begin(), end()); }

 private:
  const int64_t* data_ = nullptr;
  size_t size_ = 0;
};

inline bool operator==(Dims a, Dims b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}
inline bool operator!=(Dims a, Dims b) { return !(a == b); }

// The most elements a tensor may have, counting only its nonzero dimensions: more than any
// machine's memory holds, small enough that byte counts cannot overflow. A zero-size tensor with a
// larger dimension (NumPy makes them for free) is refused too: loops over its dims would not end.
constexpr int64_t kMaxElements = int64_t{1} << 46;

// Throws ValueError for a shape with a negative dimension or one over kMaxElements.
[[noreturn]] void throw_bad_shape(Dims shape);

// a * b for two dimensions (a, b >= 0) of a shape being built, with the same bound.
inline int64_t checked_dim_product(int64_t a, int64_t b) {
  if (a < 0 || b < 0 || (b != 0 && a > kMaxElements / b)) {
    const int64_t dims[2] = {a, b};
    throw_bad_shape(Dims(dims, 2));
  }
  return a * b;
}

// The element count of a shape, checked as above: every tensor's size goes through here, so a
// shape that overflows is an error wherever it comes from (a model's constants, a feed, an op).
inline int64_t shape_numel(Dims shape) {
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d > 0 && d <= kMaxElements / n) {
      n *= d;
    } else if (d == 0) {
      empty = true;
    } else {
      throw_bad_shape(shape);
    }
  }
  return empty ? 0 : n;
}

// A dense row-major tensor. It either owns its buffer (64-byte aligned, reused by ensure() when
// large enough) or views memory owned elsewhere: another tensor's buffer (kept alive) or an
// array the caller guarantees for the duration of a run.
class Tensor {
 public:
  Tensor() = default;
  // An owned, zero-filled tensor.
  Tensor(DType dtype, Shape shape);
  // A view of memory that someone else owns and keeps alive while the view is used.
  static Tensor borrow(DType dtype, Shape shape, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const {
    if (i >= shape_.size()) throw_bad_dim(i);
    return shape_[i];
  }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool defined() const { return data_ != nullptr; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Gives the tensor this type and shape in its own buffer, which is kept, bytes untouched, when
  // it is large enough, and otherwise replaced. A view stops being one.
  void ensure(DType dtype, Dims shape) {
    if (!owned_as(dtype, shape)) resize_owned(dtype, shape);
  }
  void ensure(DType dtype, std::initializer_list<int64_t> shape) { ensure(dtype, Dims(shape.begin(), shape.size())); }
  // The bytes ensure() can give this tensor without a new buffer (0 for a view).
  size_t owned_bytes() const { return data_ != nullptr && data_ == own_.get() ? own_bytes_ : 0; }
  // Makes this tensor show `other`'s elements under `shape` (the same element count), no copy.
  void view_of(const Tensor& other, Dims shape);
  void view_of(const Tensor& other, std::initializer_list<int64_t> shape) {
    view_of(other, Dims(shape.begin(), shape.size()));
  }
  // Makes this tensor a view of borrowed memory (see borrow()), keeping its own buffer for later.
  void set_borrowed(DType dtype, Dims shape, void* data);
  // An owned copy.
  Tensor clone() const;
  // Makes this tensor an owned copy of `src` in its own buffer (reused when large enough): the
  // per-run copies of outputs and states then allocate nothing in steady state.
  void copy_from(const Tensor& src);
  // The owner of the elements' buffer (null for borrowed memory), for handing a tensor's memory
  // to NumPy without a copy.
  std::shared_ptr<void> holder() const { return data_ == own_.get() ? own_ : keep_; }

  // Element i read as an integer or a double whatever the dtype (for small shape tensors).
  int64_t int_at(int64_t i) const;
  double double_at(int64_t i) const;
  std::vector<int64_t> to_int64_vector() const;

 private:
  [[noreturn]] void throw_bad_dim(size_t i) const;
  // shape_ = shape, reusing shape_'s capacity (and safe when `shape` points into shape_).
  void set_shape(Dims shape);
  // Whether the tensor already has this type and shape in its own buffer: the usual case in a
  // run after the first of its plan, which then changes nothing.
  bool owned_as(DType dtype, Dims shape) const {
    return dtype == dtype_ && data_ != nullptr && data_ == own_.get() && shape == Dims(shape_);
  }
  // ensure() when the tensor is not already so. `counted`: a new buffer counts in
  // tensor_buffer_allocations() (run-plan buffers do; copies of results do not).
  void resize_owned(DType dtype, Dims shape, bool counted = true);

  DType dtype_ = DType::Float32;
  Shape shape_;
  int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> own_;   // this tensor's own buffer
  size_t own_bytes_ = 0;
  std::shared_ptr<void> keep_;  // keeps another tensor's viewed buffer alive
};

// How many tensor buffers ensure() has allocated in this process: a repeated run of an input
// shape already seen adds none (the tests check this). Buffers that copy_from() allocates for
// results are not counted.
uint64_t tensor_buffer_allocations();

}  // namespace lstmrt
