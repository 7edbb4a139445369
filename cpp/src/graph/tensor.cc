#include "lstmrt/graph/tensor.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

#include "cpu/aligned_buffer.h"
#include "lstmrt/errors.h"

namespace lstmrt {

namespace {

std::atomic<uint64_t>& allocation_counter() {
  static std::atomic<uint64_t> counter{0};
  return counter;
}

// The machine's memory and swap in bytes (0 when unknown). A request for more can never be met;
// refusing it up front keeps an overcommitting kernel from granting it and killing the process
// when the memory is touched.
size_t machine_memory_bytes() {
  static const size_t bytes = [] {
#if defined(__linux__)
    struct sysinfo info;
    if (sysinfo(&info) == 0)
      return static_cast<size_t>(info.totalram + info.totalswap) * static_cast<size_t>(info.mem_unit);
#endif
    return size_t{0};
  }();
  return bytes;
}

[[noreturn]] void out_of_memory(size_t bytes, DType dtype, Dims shape) {
  throw MemoryError("cannot allocate " + std::to_string(bytes) + " bytes for a " + dtype_name(dtype) +
                    " tensor of shape " + shape_to_string(shape.to_shape()));
}

// A tensor's buffer of at least `bytes` bytes (see aligned_alloc_bytes), or MemoryError naming it.
std::shared_ptr<void> allocate(size_t bytes, DType dtype, Dims shape) {
  const size_t machine = machine_memory_bytes();
  if (machine && aligned_size(bytes) > machine) out_of_memory(bytes, dtype, shape);
  void* p = aligned_alloc_bytes(bytes);
  if (!p) out_of_memory(bytes, dtype, shape);
  return std::shared_ptr<void>(p, [](void* q) { aligned_free(q); });
}

}  // namespace

bool dtype_from_onnx(int64_t code, DType* out) {
  for (const DTypeFacts& f : kDTypeFacts)
    if (f.onnx_code == code) {
      *out = f.dtype;
      return true;
    }
  return false;
}

bool dtype_from_numpy(char kind, size_t itemsize, DType* out) {
  for (const DTypeFacts& f : kDTypeFacts)
    if (f.numpy_kind == kind && f.size == itemsize) {
      *out = f.dtype;
      return true;
    }
  return false;
}

std::string supported_dtype_names() {
  std::string s;
  for (size_t i = 0; i < kNumDTypes; ++i)
    s += std::string(i == 0 ? "" : (i + 1 == kNumDTypes ? " and " : ", ")) + kDTypeFacts[i].name;
  return s;
}

std::string onnx_type_code_name(int64_t code) {
  static const char* const names[] = {"UNDEFINED", "FLOAT",     "UINT8",     "INT8",         "UINT16",
                                      "INT16",     "INT32",     "INT64",     "STRING",       "BOOL",
                                      "FLOAT16",   "DOUBLE",    "UINT32",    "UINT64",       "COMPLEX64",
                                      "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
                                      "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"};
  if (code >= 0 && code < static_cast<int64_t>(sizeof(names) / sizeof(names[0]))) return names[code];
  return "type code " + std::to_string(code);
}

void throw_bad_shape(Dims shape) {
  for (int64_t d : shape)
    if (d < 0) throw ValueError("negative dimension in shape " + shape_to_string(shape.to_shape()));
  throw ValueError("shape " + shape_to_string(shape.to_shape()) + " has more than 2^46 elements (counting its " +
                   "nonzero dimensions only): no machine holds such a tensor");
}

void Tensor::throw_bad_dim(size_t i) const {
  throw ValueError("dimension " + std::to_string(i) + " of a tensor of rank " + std::to_string(shape_.size()) +
                   " (shape " + shape_to_string(shape_) + ") was asked for");
}

Tensor::Tensor(DType dtype, Shape shape) {
  numel_ = shape_numel(shape);
  dtype_ = dtype;
  shape_ = std::move(shape);
  own_bytes_ = nbytes();
  own_ = allocate(own_bytes_, dtype_, shape_);
  std::memset(own_.get(), 0, own_bytes_);
  data_ = own_.get();
}

Tensor Tensor::borrow(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.set_borrowed(dtype, shape, data);
  return t;
}

void Tensor::set_shape(Dims shape) {
  const int64_t* own = shape_.data();
  if (shape.data() == own && shape.size() == shape_.size()) return;
  if (shape.data() >= own && shape.data() < own + shape_.size()) {
    // A part of this tensor's own shape (assign() must not read from the vector it writes).
    shape_ = shape.to_shape();
    return;
  }
  if (shape.size() == shape_.size())
    std::copy(shape.begin(), shape.end(), shape_.begin());  // the usual case: a run of the same rank
  else
    shape_.assign(shape.begin(), shape.end());
}

void Tensor::set_borrowed(DType dtype, Dims shape, void* data) {
  static const uint64_t kEmpty[8] = {};
  const int64_t n = shape_numel(shape);
  dtype_ = dtype;
  if (!(shape == Dims(shape_))) set_shape(shape);  // else the same shape as the previous run
  numel_ = n;
  keep_.reset();
  data_ = data ? data : const_cast<uint64_t*>(kEmpty);
}

void Tensor::resize_owned(DType dtype, Dims shape, bool counted) {
  const int64_t n = shape_numel(shape);
  const size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
  if (!own_ || own_bytes_ < bytes) {
    own_ = allocate(bytes, dtype, shape);
    own_bytes_ = bytes;
    if (counted) allocation_counter().fetch_add(1, std::memory_order_relaxed);
  }
  dtype_ = dtype;
  set_shape(shape);
  numel_ = n;
  keep_.reset();
  data_ = own_.get();
}

void Tensor::view_of(const Tensor& other, Dims shape) {
  // Keep whatever keeps the viewed buffer alive; borrowed memory has no owner here. A view made
  // again of the same buffer (every run of a plan) already keeps it: no reference counting then.
  static const std::shared_ptr<void> kNone;
  const int64_t n = shape_numel(shape);
  if (n > other.numel_)
    throw ValueError("a view of shape " + shape_to_string(shape.to_shape()) + " would read past the " +
                     std::to_string(other.numel_) + " elements of its source");
  const std::shared_ptr<void>& owner =
      other.keep_ ? other.keep_ : (other.data_ == other.own_.get() ? other.own_ : kNone);
  if (keep_ != owner) keep_ = owner;
  data_ = other.data_;
  dtype_ = other.dtype_;
  if (!(shape == Dims(shape_))) set_shape(shape);  // else the view of the previous run again
  numel_ = n;
}

void Tensor::copy_from(const Tensor& src) {
  if (&src == this) return;
  if (!src.defined()) {
    *this = src.clone();  // what clone() makes of an undefined tensor
    return;
  }
  if (!owned_as(src.dtype_, src.shape_)) resize_owned(src.dtype_, src.shape_, false);
  if (numel_ > 0) std::memcpy(data_, src.data_, nbytes());
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (numel_ > 0) std::memcpy(t.data_, data_, nbytes());
  return t;
}

int64_t Tensor::int_at(int64_t i) const {
  switch (dtype_) {
    case DType::Float32:
      return static_cast<int64_t>(data<float>()[i]);
    case DType::Int64:
      return data<int64_t>()[i];
    case DType::Int32:
      return data<int32_t>()[i];
    case DType::Bool:
      return data<bool>()[i] ? 1 : 0;
    case DType::UInt8:
      return data<uint8_t>()[i];
    case DType::Int8:
      return data<int8_t>()[i];
  }
  return 0;
}

double Tensor::double_at(int64_t i) const {
  switch (dtype_) {
    case DType::Float32:
      return data<float>()[i];
    case DType::Int64:
      return static_cast<double>(data<int64_t>()[i]);
    case DType::Int32:
      return data<int32_t>()[i];
    case DType::Bool:
      return data<bool>()[i] ? 1.0 : 0.0;
    case DType::UInt8:
      return data<uint8_t>()[i];
    case DType::Int8:
      return data<int8_t>()[i];
  }
  return 0.0;
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = int_at(i);
  return v;
}

uint64_t tensor_buffer_allocations() { return allocation_counter().load(std::memory_order_relaxed); }

}  // namespace lstmrt
