#include "op_util.h"

#include <algorithm>
#include <cstring>

namespace lstmrt {

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank)
    throw ValueError(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(rank) + " (expected [" + std::to_string(-rank) + ", " + std::to_string(rank - 1) +
                     "])");
  return axis < 0 ? axis + rank : axis;
}

DimVector broadcast_shapes(Dims a, Dims b) {
  const size_t r = std::max(a.size(), b.size());
  DimVector out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      throw ValueError("shapes " + shape_to_string(a.to_shape()) + " and " + shape_to_string(b.to_shape()) +
                       " cannot be broadcast together");
  }
  return out;
}

DimVector broadcast_strides(Dims shape, Dims out) {
  const size_t r = out.size();
  DimVector strides(r, 0);
  int64_t s = 1;
  for (size_t j = shape.size(); j-- > 0;) {
    const size_t i = j + (r - shape.size());
    strides[i] = (shape[j] == 1 && out[i] != 1) ? 0 : s;
    s *= shape[j];
  }
  return strides;
}

bool ends_with(Dims out, Dims shape) {
  if (shape.size() > out.size()) return false;
  const size_t skip = out.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != out[skip + i]) return false;
  return true;
}

DimVector row_major_strides(Dims shape) {
  DimVector s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

StridedLoop::StridedLoop(Dims out, std::initializer_list<Dims> strides) {
  n_ = static_cast<int>(strides.size());
  total_ = shape_numel(out);
  // Groups of merged dims, innermost first: size and each operand's stride of the group.
  DimVector sizes;
  SmallVector<std::array<int64_t, 3>, 8> st;
  for (size_t d = out.size(); d-- > 0;) {
    if (out[d] == 1) continue;
    std::array<int64_t, 3> s{0, 0, 0};
    for (int k = 0; k < n_; ++k) s[k] = strides.begin()[k][d];
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

void ShapeMemo::add_values(const Tensor& t) {
  if (t.rank() > 1 || (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)) {
    describable = false;
    return;
  }
  next.push_back(t.numel());
  if (t.dtype() == DType::Int64)
    next.insert(next.end(), t.data<int64_t>(), t.data<int64_t>() + t.numel());
  else
    next.insert(next.end(), t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

ShapeMemo& shape_memo(RunContext& ctx) {
  if (!*ctx.state) *ctx.state = std::make_unique<ShapeMemo>();
  return static_cast<ShapeMemo&>(**ctx.state);
}

void wrong_dtype(const Tensor& t, DType dtype, const char* what) {
  throw TypeError(std::string(what) + ": expected " + dtype_name(dtype) + ", got " + dtype_name(t.dtype()));
}

void expect_integer(const Tensor& t, const char* what) {
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
    throw TypeError(std::string(what) + ": expected an int64 or int32 tensor, got " + dtype_name(t.dtype()));
}

DimVector int_values(const Tensor& t, const char* what) {
  expect_integer(t, what);
  if (t.rank() > 1)
    throw ValueError(std::string(what) + ": expected a 1-D tensor, got shape " + shape_to_string(t.shape()));
  DimVector v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::Int64) {
    const int64_t* p = t.data<int64_t>();
    std::copy(p, p + t.numel(), v.begin());
  } else {
    const int32_t* p = t.data<int32_t>();
    std::copy(p, p + t.numel(), v.begin());
  }
  return v;
}

double scalar_double(const Tensor& t, const char* what) {
  if (t.numel() != 1)
    throw ValueError(std::string(what) + ": expected a single value, got shape " + shape_to_string(t.shape()));
  return t.double_at(0);
}

void broadcast_copy(const Tensor& src, Tensor& dst) {
  const size_t es = dtype_size(src.dtype());
  StridedLoop loop(dst.shape(), {row_major_strides(dst.shape()), broadcast_strides(src.shape(), dst.shape())});
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

std::vector<int64_t> list_attr_or_input(const BuildContext& ctx, const char* name, int input_opset, size_t slot,
                                        bool* from_input) {
  *from_input = false;
  if (ctx.opset() < input_opset || ctx.has_attr(name)) return ctx.get_ints(name);
  *from_input = ctx.has_input(slot);
  return {};
}

}  // namespace lstmrt
