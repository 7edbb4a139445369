#include "op_util.h"

#include <cstring>

namespace lstmrt {

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank)
    throw ValueError(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(rank) + " (expected [" + std::to_string(-rank) + ", " + std::to_string(rank - 1) +
                     "])");
  return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      throw ValueError("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " cannot be broadcast together");
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  const size_t r = out.size();
  std::vector<int64_t> strides(r, 0);
  int64_t s = 1;
  for (size_t j = shape.size(); j-- > 0;) {
    const size_t i = j + (r - shape.size());
    strides[i] = (shape[j] == 1 && out[i] != 1) ? 0 : s;
    s *= shape[j];
  }
  return strides;
}

StridedLoop::StridedLoop(const Shape& out, const std::vector<std::vector<int64_t>>& strides) {
  n_ = static_cast<int>(strides.size());
  total_ = shape_numel(out);
  // Groups of merged dims, innermost first: size and each operand's stride of the group.
  std::vector<int64_t> sizes;
  std::vector<std::array<int64_t, 3>> st;
  for (size_t d = out.size(); d-- > 0;) {
    if (out[d] == 1) continue;
    std::array<int64_t, 3> s{0, 0, 0};
    for (int k = 0; k < n_; ++k) s[k] = strides[k][d];
    if (!sizes.empty()) {
      bool merge = true;
      for (int k = 0; k < n_; ++k) merge = merge && s[k] == st.back()[k] * sizes.back();
      if (merge) {
        sizes.back() *= out[d];
        continue;
      }
    }
    sizes.push_back(out[d]);
    st.push_back(s);
  }
  if (sizes.empty()) {
    inner_ = 1;
    return;
  }
  inner_ = sizes[0];
  inner_stride_ = st[0];
  for (size_t g = sizes.size(); g-- > 1;) {
    outer_dims_.push_back(sizes[g]);
    outer_strides_.push_back(st[g]);
  }
}

void expect_dtype(const Tensor& t, DType dtype, const char* what) {
  if (t.dtype() != dtype)
    throw TypeError(std::string(what) + ": expected " + dtype_name(dtype) + ", got " + dtype_name(t.dtype()));
}

void expect_integer(const Tensor& t, const char* what) {
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
    throw TypeError(std::string(what) + ": expected an int64 or int32 tensor, got " + dtype_name(t.dtype()));
}

std::vector<int64_t> int_values(const Tensor& t, const char* what) {
  expect_integer(t, what);
  if (t.rank() > 1)
    throw ValueError(std::string(what) + ": expected a 1-D tensor, got shape " + shape_to_string(t.shape()));
  return t.to_int64_vector();
}

double scalar_double(const Tensor& t, const char* what) {
  if (t.numel() != 1)
    throw ValueError(std::string(what) + ": expected a single value, got shape " + shape_to_string(t.shape()));
  return t.double_at(0);
}

void broadcast_copy(const Tensor& src, Tensor& dst) {
  const size_t es = dtype_size(src.dtype());
  StridedLoop loop(dst.shape(), {broadcast_strides(dst.shape(), dst.shape()), broadcast_strides(src.shape(), dst.shape())});
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(dst.raw());
  const int64_t sst = loop.inner_stride(1);
  loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
    char* o = d + off[0] * es;
    const char* i = s + off[1] * es;
    if (sst == 1) {
      std::memcpy(o, i, n * es);
    } else if (sst == 0) {
      for (int64_t j = 0; j < n; ++j) std::memcpy(o + j * es, i, es);
    } else {
      for (int64_t j = 0; j < n; ++j) std::memcpy(o + j * es, i + j * sst * es, es);
    }
  });
}

}  // namespace lstmrt
