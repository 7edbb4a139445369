// Dense algebra (Gemm, MatMul: constant weights packed once for the SIMD GEMM), Softmax,
// reductions and LayerNormalization.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "builders.h"
#include "lstmrt/gemm.h"
#include "lstmrt/kernels.h"
#include "lstmrt/packed_matrix.h"
#include "lstmrt/threading.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// C[M][N] (+)= sum_k A[m*sam + k*sak] * B[k*sbk + n*sbn], for operands that are not packed.
template <class T>
void naive_matmul(int64_t M, int64_t N, int64_t K, const T* A, int64_t sam, int64_t sak, const T* B, int64_t sbk,
                  int64_t sbn, T* C, float alpha) {
  for (int64_t m = 0; m < M; ++m) {
    T* c = C + m * N;
    std::fill(c, c + N, T(0));
    for (int64_t k = 0; k < K; ++k) {
      const T a = A[m * sam + k * sak];
      const T* b = B + k * sbk;
      if (sbn == 1)
        for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];
      else
        for (int64_t n = 0; n < N; ++n) c[n] += a * b[n * sbn];
    }
    if (alpha != 1.0f)
      for (int64_t n = 0; n < N; ++n) c[n] = static_cast<T>(c[n] * alpha);
  }
}

// W[N][K] = (B viewed as [K][N])ᵀ · scale, the layout PackedMatrix packs.
PackedMatrix pack_kn(const Tensor& B, bool b_is_nk, float scale, WeightType type) {
  const int64_t N = b_is_nk ? B.dim(0) : B.dim(1);
  const int64_t K = b_is_nk ? B.dim(1) : B.dim(0);
  std::vector<float> w(static_cast<size_t>(N * K));
  const float* b = B.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w[n * K + k] = scale * (b_is_nk ? b[n * K + k] : b[k * N + n]);
  return PackedMatrix(w.data(), N, K, K, type);
}

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha · A' · B' + beta · C.

class GemmOp final : public Op {
 public:
  GemmOp(const BuildContext& ctx)
      : alpha_(ctx.get_float("alpha", 1.0f)),
        beta_(ctx.get_float("beta", 1.0f)),
        trans_a_(ctx.get_int("transA", 0) != 0),
        trans_b_(ctx.get_int("transB", 0) != 0) {
    const Tensor* B = ctx.constant(1);
    if (B && B->dtype() == DType::Float32) {
      if (B->rank() != 2) ctx.fail("B must be 2-D, got shape " + shape_to_string(B->shape()));
      packed_ = pack_kn(*B, trans_b_, alpha_, ctx.weight_type());
      ctx.warn_if_int8_lost(packed_.lost_weight_fraction(), "B");
      has_packed_ = true;
      const Tensor* C = ctx.constant(2);
      // A constant C that varies only along N (shapes [], [1], [N], [1, N]) becomes the GEMM's
      // bias row; any other C is added after the product.
      if (C && C->dtype() == DType::Float32) {
        const int64_t N = packed_.n();
        const Shape& cs = C->shape();
        const bool row = (cs.size() <= 2) && (cs.empty() || cs.back() == N || cs.back() == 1) &&
                         (cs.size() < 2 || cs[0] == 1);
        if (row) {
          bias_.resize(static_cast<size_t>(N));
          for (int64_t n = 0; n < N; ++n) bias_[n] = beta_ * C->data<float>()[C->numel() == 1 ? 0 : n];
          bias_folded_ = true;
        }
      }
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& A = *in[0];
    expect_dtype(A, DType::Float32, "A");
    if (A.rank() != 2) throw ValueError("A must be 2-D, got shape " + shape_to_string(A.shape()));
    const int64_t M = trans_a_ ? A.dim(1) : A.dim(0);
    const int64_t K = trans_a_ ? A.dim(0) : A.dim(1);
    const Tensor* C = in.size() > 2 ? in[2] : nullptr;
    Tensor& Y = *out[0];
    if (has_packed_) {
      if (packed_.k() != K)
        throw ValueError("A of shape " + shape_to_string(A.shape()) + (trans_a_ ? " (transposed)" : "") +
                         " does not match B: inner dimensions " + std::to_string(K) + " and " + std::to_string(packed_.k()));
      const int64_t N = packed_.n();
      Y.ensure(DType::Float32, {M, N});
      const float* a = A.data<float>();
      if (trans_a_) {
        Tensor& t = ctx.scratch_tensor(0);
        t.ensure(DType::Float32, {M, K});
        for (int64_t m = 0; m < M; ++m)
          for (int64_t k = 0; k < K; ++k) t.data<float>()[m * K + k] = a[k * M + m];
        a = t.data<float>();
      }
      if (M > 0 && N > 0)
        gemm(kernels(), M, a, K, packed_, bias_folded_ ? bias_.data() : nullptr, false, Y.data<float>(), N,
             resolve_threads(ctx.threads));
    } else {
      const Tensor& B = *in[1];
      expect_dtype(B, DType::Float32, "B");
      if (B.rank() != 2) throw ValueError("B must be 2-D, got shape " + shape_to_string(B.shape()));
      const int64_t Kb = trans_b_ ? B.dim(1) : B.dim(0);
      const int64_t N = trans_b_ ? B.dim(0) : B.dim(1);
      if (Kb != K)
        throw ValueError("A of shape " + shape_to_string(A.shape()) + " and B of shape " + shape_to_string(B.shape()) +
                         " do not match (transA=" + std::to_string(trans_a_) + ", transB=" + std::to_string(trans_b_) + ")");
      Y.ensure(DType::Float32, {M, N});
      naive_matmul<float>(M, N, K, A.data<float>(), trans_a_ ? 1 : K, trans_a_ ? M : 1, B.data<float>(),
                          trans_b_ ? 1 : N, trans_b_ ? K : 1, Y.data<float>(), alpha_);
    }
    if (C && !bias_folded_ && beta_ != 0.0f) {
      expect_dtype(*C, DType::Float32, "C");
      DimVector bs;
      try {
        bs = broadcast_shapes(Y.shape(), C->shape());
      } catch (const ValueError&) {
        bs.clear();
      }
      if (bs != Y.shape())
        throw ValueError("C of shape " + shape_to_string(C->shape()) + " does not broadcast to the result's shape " +
                         shape_to_string(Y.shape()));
      StridedLoop loop(Y.shape(), {broadcast_strides(C->shape(), Y.shape())});
      const float* c = C->data<float>();
      float* y = Y.data<float>();
      const int64_t sc = loop.inner_stride(0);
      int64_t o = 0;
      const float beta = beta_;
      loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
        for (int64_t j = 0; j < n; ++j) y[o + j] += beta * c[off[0] + j * sc];
        o += n;
      });
    }
  }

 private:
  float alpha_, beta_;
  bool trans_a_, trans_b_;
  bool has_packed_ = false;
  PackedMatrix packed_;
  bool bias_folded_ = false;
  std::vector<float> bias_;
};

// ---------------------------------------------------------------------------------------------
// MatMul with NumPy semantics (1-D operands promoted, batch dims broadcast).

class MatMulOp final : public Op {
 public:
  explicit MatMulOp(const BuildContext& ctx) {
    const Tensor* B = ctx.constant(1);
    if (B && B->dtype() == DType::Float32 && B->rank() == 2) {
      packed_ = pack_kn(*B, false, 1.0f, ctx.weight_type());
      ctx.warn_if_int8_lost(packed_.lost_weight_fraction(), "B");
      has_packed_ = true;
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& A = *in[0];
    const Tensor& B = *in[1];
    if (A.dtype() != B.dtype())
      throw TypeError(std::string("A and B have different types: ") + dtype_name(A.dtype()) + " and " + dtype_name(B.dtype()));
    if (A.rank() == 0 || B.rank() == 0) throw ValueError("MatMul does not take scalars");
    Tensor& Y = *out[0];
    if (has_packed_) {
      const int64_t K = packed_.k(), N = packed_.n();
      if (A.dim(A.rank() - 1) != K)
        throw ValueError("shapes " + shape_to_string(A.shape()) + " and " + shape_to_string(B.shape()) +
                         " do not match: the inner dimensions are " + std::to_string(A.dim(A.rank() - 1)) + " and " +
                         std::to_string(K));
      DimVector shape(A.shape().begin(), A.shape().end() - 1);
      shape.push_back(N);
      Y.ensure(DType::Float32, shape);
      const int64_t M = K == 0 ? shape_numel(shape) / std::max<int64_t>(N, 1) : A.numel() / K;
      if (M > 0 && N > 0) {
        if (K == 0)
          std::memset(Y.raw(), 0, Y.nbytes());
        else
          gemm(kernels(), M, A.data<float>(), K, packed_, nullptr, false, Y.data<float>(), N, resolve_threads(ctx.threads));
      }
      return;
    }
    // 1-D operands are promoted: A to [1, K], B to [K, 1].
    DimVector as, bs(B.shape().begin(), B.shape().end());
    const bool a_vec = A.rank() == 1, b_vec = B.rank() == 1;
    if (a_vec) as.push_back(1);
    for (int64_t d : A.shape()) as.push_back(d);
    if (b_vec) bs.push_back(1);
    const int64_t M = as[as.size() - 2], K = as.back(), Kb = bs[bs.size() - 2], N = bs.back();
    if (K != Kb)
      throw ValueError("shapes " + shape_to_string(A.shape()) + " and " + shape_to_string(B.shape()) +
                       " do not match: the inner dimensions are " + std::to_string(K) + " and " + std::to_string(Kb));
    const DimVector ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    const DimVector batch = broadcast_shapes(ab, bb);
    DimVector shape = batch;
    if (!a_vec) shape.push_back(M);
    if (!b_vec) shape.push_back(N);
    DimVector sa = broadcast_strides(ab, batch), sb = broadcast_strides(bb, batch);
    for (auto& s : sa) s *= M * K;
    for (auto& s : sb) s *= K * N;
    Y.ensure(A.dtype(), shape);
    StridedLoop loop(batch, {sa, sb});
    dispatch_numeric(A.dtype(), "A", [&](auto t) {
      using T = decltype(t);
      const T* a = A.data<T>();
      const T* b = B.data<T>();
      T* y = Y.data<T>();
      int64_t o = 0;
      const int64_t ia = loop.inner_stride(0), ib = loop.inner_stride(1);
      loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
        for (int64_t j = 0; j < n; ++j) {
          naive_matmul<T>(M, N, K, a + off[0] + j * ia, K, 1, b + off[1] + j * ib, N, 1, y + o * M * N, 1.0f);
          ++o;
        }
      });
    });
  }

 private:
  bool has_packed_ = false;
  PackedMatrix packed_;
};

// ---------------------------------------------------------------------------------------------
// Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
// normalized over the whole second part; from 13 on only over `axis` (default -1).

class SoftmaxOp final : public Op {
 public:
  SoftmaxOp(int64_t axis, bool legacy, bool log) : axis_(axis), legacy_(legacy), log_(log) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "input");
    Tensor& y = *out[0];
    y.ensure(DType::Float32, x.shape());
    const int64_t r = static_cast<int64_t>(x.rank());
    if (r == 0) {
      y.data<float>()[0] = log_ ? 0.0f : 1.0f;
      return;
    }
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, r));
    int64_t outer = 1, n = 1, inner = 1;
    for (size_t i = 0; i < x.rank(); ++i) {
      if (i < axis)
        outer *= x.dim(i);
      else if (i == axis || legacy_)
        n *= x.dim(i);
      else
        inner *= x.dim(i);
    }
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const float* p = s + o * n * inner + i;
        float* q = d + o * n * inner + i;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t k = 0; k < n; ++k) mx = std::max(mx, p[k * inner]);
        double sum = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const float e = std::exp(p[k * inner] - mx);
          sum += e;
          if (!log_) q[k * inner] = e;
        }
        if (log_) {
          const float ls = static_cast<float>(std::log(sum));
          for (int64_t k = 0; k < n; ++k) q[k * inner] = p[k * inner] - mx - ls;
        } else {
          const float inv = static_cast<float>(1.0 / sum);
          for (int64_t k = 0; k < n; ++k) q[k * inner] *= inv;
        }
      }
    }
  }

 private:
  int64_t axis_;
  bool legacy_, log_;
};

// ---------------------------------------------------------------------------------------------
// Reductions. Axes come from the attribute before the opset that made them an input (13 for
// ReduceSum, 18 for the others) and from the optional second input after.

enum class Reduce { Mean, Sum, Max, Min, Prod, SumSquare, L2 };

// The largest (IsMax) or smallest of acc, v[0], ..., v[n - 1], exactly as the running
// acc = (v > acc || v != v) ? v : acc gives it: the last NaN if there is one, and of equal zeros
// the first. The main loop keeps independent lanes, which the compiler vectorizes; the rare
// cases (a NaN, a zero result) are settled by a second look at v.
template <bool IsMax>
float extreme(float acc, const float* v, int64_t n) {
  constexpr int L = 16;
  float lane[L];
  int nan[L];
  for (int l = 0; l < L; ++l) {
    lane[l] = acc;
    nan[l] = 0;
  }
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) {
      const float b = v[j + l];
      nan[l] |= b != b;
      lane[l] = (IsMax ? b > lane[l] : b < lane[l]) ? b : lane[l];
    }
  float r = acc;
  int any_nan = acc != acc;
  for (int l = 0; l < L; ++l) {
    r = (IsMax ? lane[l] > r : lane[l] < r) ? lane[l] : r;
    any_nan |= nan[l];
  }
  for (; j < n; ++j) {
    any_nan |= v[j] != v[j];
    r = (IsMax ? v[j] > r : v[j] < r) ? v[j] : r;
  }
  if (any_nan) {
    for (int64_t i = n; i-- > 0;)
      if (v[i] != v[i]) return v[i];
    return acc;
  }
  if (r == 0.0f && acc != 0.0f)
    for (int64_t i = 0; i < n; ++i)
      if (v[i] == 0.0f) return v[i];
  return r;
}

class ReduceOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }  // noop_with_empty_axes
  ReduceOp(Reduce kind, std::vector<int64_t> axes, bool from_input, bool keepdims, bool noop_empty)
      : kind_(kind), axes_(std::move(axes)), from_input_(from_input), keepdims_(keepdims), noop_empty_(noop_empty) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const int64_t r = static_cast<int64_t>(x.rank());
    const DimVector axes = from_input_ && in.size() > 1 && in[1] ? int_values(*in[1], "axes")
                                                                  : DimVector(axes_.begin(), axes_.end());
    Tensor& y = *out[0];
    if (axes.empty() && noop_empty_) {
      y.view_of(x, x.shape());
      return;
    }
    DimVector reduced(x.rank(), axes.empty() ? 1 : 0);
    for (int64_t a : axes) reduced[static_cast<size_t>(normalize_axis(a, r, "axes entry"))] = 1;
    DimVector keep(x.shape().begin(), x.shape().end()), shape;
    int64_t count = 1;
    for (size_t i = 0; i < x.rank(); ++i) {
      if (reduced[i]) {
        count *= x.dim(i);
        keep[i] = 1;
        if (keepdims_) shape.push_back(1);
      } else {
        shape.push_back(x.dim(i));
      }
    }
    y.ensure(x.dtype(), shape);
    if (x.dtype() == DType::Bool && kind_ != Reduce::Max && kind_ != Reduce::Min)
      throw TypeError("data: bool tensors are only reduced by ReduceMax and ReduceMin");
    dispatch_all(x.dtype(), [&](auto t) {
      using T = decltype(t);
      // The identity of each reduction, which an empty reduction returns (-inf for ReduceMax).
      T init = T(0);
      if (kind_ == Reduce::Max)
        init = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
      if (kind_ == Reduce::Min)
        init = std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
      if (kind_ == Reduce::Prod) init = T(1);
      T* d = y.data<T>();
      std::fill(d, d + y.numel(), init);
      const T* s = x.data<T>();
      StridedLoop loop(x.shape(), {broadcast_strides(keep, x.shape())});
      const int64_t sy = loop.inner_stride(0);
      int64_t o = 0;
      const Reduce kind = kind_;
      loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
        T* acc = d + off[0];
        const T* v = s + o;
        o += n;
        if constexpr (std::is_same<T, bool>::value) {
          // Max of bools is "any", Min is "all".
          if (kind == Reduce::Max)
            for (int64_t j = 0; j < n; ++j) acc[j * sy] = acc[j * sy] || v[j];
          else
            for (int64_t j = 0; j < n; ++j) acc[j * sy] = acc[j * sy] && v[j];
        } else {
          // acc = f(acc, v) along the row; a kept last axis (sy == 1) gets its own loop, which
          // the compiler vectorizes, with each element's sum in the same order.
          auto each = [&](auto f) {
            if (sy == 1)
              for (int64_t j = 0; j < n; ++j) acc[j] = f(acc[j], v[j]);
            else
              for (int64_t j = 0; j < n; ++j) acc[j * sy] = f(acc[j * sy], v[j]);
          };
          switch (kind) {
            case Reduce::Mean:
            case Reduce::Sum:
              each([](T a, T b) { return static_cast<T>(a + b); });
              break;
            case Reduce::SumSquare:
            case Reduce::L2:
              each([](T a, T b) { return static_cast<T>(a + b * b); });
              break;
            case Reduce::Max:
              if constexpr (std::is_same<T, float>::value)
                if (sy == 0) {
                  acc[0] = extreme<true>(acc[0], v, n);
                  break;
                }
              each([](T a, T b) { return (b > a || b != b) ? b : a; });
              break;
            case Reduce::Min:
              if constexpr (std::is_same<T, float>::value)
                if (sy == 0) {
                  acc[0] = extreme<false>(acc[0], v, n);
                  break;
                }
              each([](T a, T b) { return (b < a || b != b) ? b : a; });
              break;
            case Reduce::Prod:
              each([](T a, T b) { return static_cast<T>(a * b); });
              break;
          }
        }
      });
      if constexpr (!std::is_same<T, bool>::value) {
        if (kind_ == Reduce::Mean)
          for (int64_t i = 0; i < y.numel(); ++i) d[i] = static_cast<T>(d[i] / static_cast<T>(count));
        if (kind_ == Reduce::L2)
          for (int64_t i = 0; i < y.numel(); ++i) d[i] = static_cast<T>(std::sqrt(static_cast<double>(d[i])));
      }
    });
  }

 private:
  Reduce kind_;
  std::vector<int64_t> axes_;
  bool from_input_, keepdims_, noop_empty_;
};

class ArgReduceOp final : public Op {
 public:
  ArgReduceOp(bool max, int64_t axis, bool keepdims, bool last)
      : max_(max), axis_(axis), keepdims_(keepdims), last_(last) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.rank())));
    if (x.dim(axis) == 0) throw ValueError("cannot reduce an empty axis of shape " + shape_to_string(x.shape()));
    Shape shape;
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < x.rank(); ++i) {
      if (i < axis) outer *= x.dim(i);
      if (i > axis) inner *= x.dim(i);
      if (i != axis)
        shape.push_back(x.dim(i));
      else if (keepdims_)
        shape.push_back(1);
    }
    Tensor& y = *out[0];
    y.ensure(DType::Int64, shape);
    const int64_t n = x.dim(axis);
    dispatch_numeric(x.dtype(), "data", [&](auto t) {
      using T = decltype(t);
      const T* s = x.data<T>();
      int64_t* d = y.data<int64_t>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* p = s + o * n * inner + i;
          int64_t best = 0;
          for (int64_t k = 1; k < n; ++k) {
            const T v = p[k * inner], b = p[best * inner];
            const bool better = max_ ? (last_ ? v >= b : v > b) : (last_ ? v <= b : v < b);
            if (better) best = k;
          }
          d[o * inner + i] = best;
        }
    });
  }

 private:
  bool max_;
  int64_t axis_;
  bool keepdims_, last_;
};

// ---------------------------------------------------------------------------------------------
// LayerNormalization (opset 17): normalize over the dims from `axis` on, then scale and shift.

class LayerNormOp final : public Op {
 public:
  LayerNormOp(int64_t axis, float epsilon) : axis_(axis), epsilon_(epsilon) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "X");
    const int64_t r = static_cast<int64_t>(x.rank());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, r));
    const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
    int64_t outer = 1;
    for (size_t i = 0; i < axis; ++i) outer *= x.dim(i);
    const int64_t n = shape_numel(norm_shape);
    // Scale and bias, broadcast to the normalized shape when they are smaller.
    const float* scale = expand(*in[1], norm_shape, ctx.scratch_tensor(0), "Scale");
    const float* bias = in.size() > 2 && in[2] ? expand(*in[2], norm_shape, ctx.scratch_tensor(1), "B") : nullptr;
    Tensor& y = *out[0];
    y.ensure(DType::Float32, x.shape());
    Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
    stat_shape.resize(x.rank(), 1);
    float* mean_out = nullptr;
    float* inv_out = nullptr;
    if (out.size() > 1 && out[1]) {
      out[1]->ensure(DType::Float32, stat_shape);
      mean_out = out[1]->data<float>();
    }
    if (out.size() > 2 && out[2]) {
      out[2]->ensure(DType::Float32, stat_shape);
      inv_out = out[2]->data<float>();
    }
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = s + o * n;
      float* q = d + o * n;
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) sum += p[k];
      const double mean = n ? sum / n : 0.0;
      double var = 0.0;
      for (int64_t k = 0; k < n; ++k) var += (p[k] - mean) * (p[k] - mean);
      var = n ? var / n : 0.0;
      const float inv = static_cast<float>(1.0 / std::sqrt(var + epsilon_));
      const float m = static_cast<float>(mean);
      for (int64_t k = 0; k < n; ++k) q[k] = (p[k] - m) * inv * scale[k] + (bias ? bias[k] : 0.0f);
      if (mean_out) mean_out[o] = m;
      if (inv_out) inv_out[o] = inv;
    }
  }

 private:
  static const float* expand(const Tensor& t, const Shape& shape, Tensor& scratch, const char* what) {
    expect_dtype(t, DType::Float32, what);
    if (t.shape() == shape) return t.data<float>();
    if (broadcast_shapes(t.shape(), shape) != shape)
      throw ValueError(std::string(what) + " of shape " + shape_to_string(t.shape()) +
                       " does not broadcast to the normalized shape " + shape_to_string(shape));
    scratch.ensure(DType::Float32, shape);
    broadcast_copy(t, scratch);
    return scratch.data<float>();
  }

  int64_t axis_;
  float epsilon_;
};

}  // namespace

OpPtr build_gemm(const BuildContext& ctx) {
  ctx.require_input(0, "A");
  ctx.require_input(1, "B");
  if (ctx.opset() < 11) ctx.require_input(2, "C");
  return std::make_unique<GemmOp>(ctx);
}

OpPtr build_matmul(const BuildContext& ctx) {
  ctx.require_input(0, "A");
  ctx.require_input(1, "B");
  return std::make_unique<MatMulOp>(ctx);
}

OpPtr build_softmax(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  const bool legacy = ctx.opset() < 13;
  return std::make_unique<SoftmaxOp>(ctx.get_int("axis", legacy ? 1 : -1), legacy, ctx.node().op_type == "LogSoftmax");
}

OpPtr build_reduce(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  const std::string& op = ctx.node().op_type;
  Reduce kind;
  if (op == "ReduceMean")
    kind = Reduce::Mean;
  else if (op == "ReduceSum")
    kind = Reduce::Sum;
  else if (op == "ReduceMax")
    kind = Reduce::Max;
  else if (op == "ReduceMin")
    kind = Reduce::Min;
  else if (op == "ReduceProd")
    kind = Reduce::Prod;
  else if (op == "ReduceSumSquare")
    kind = Reduce::SumSquare;
  else if (op == "ReduceL2")
    kind = Reduce::L2;
  else
    ctx.fail("not a reduction");
  const int input_opset = kind == Reduce::Sum ? 13 : 18;
  std::vector<int64_t> axes;
  bool from_input = false;
  if (ctx.opset() < input_opset || ctx.has_attr("axes"))
    axes = ctx.get_ints("axes");
  else
    from_input = ctx.has_input(1);
  const int64_t keepdims = ctx.get_int("keepdims", 1);
  const int64_t noop = ctx.get_int("noop_with_empty_axes", 0);
  if ((keepdims != 0 && keepdims != 1) || (noop != 0 && noop != 1))
    ctx.fail("attributes 'keepdims' and 'noop_with_empty_axes' must be 0 or 1");
  return std::make_unique<ReduceOp>(kind, std::move(axes), from_input, keepdims == 1, noop == 1);
}

OpPtr build_arg_reduce(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  return std::make_unique<ArgReduceOp>(ctx.node().op_type == "ArgMax", ctx.get_int("axis", 0),
                                       ctx.get_int("keepdims", 1) != 0, ctx.get_int("select_last_index", 0) != 0);
}

OpPtr build_layer_norm(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  ctx.require_input(1, "Scale");
  const int64_t stash = ctx.get_int("stash_type", 1);
  if (stash != 1) ctx.fail("attribute stash_type=" + std::to_string(stash) + " is not supported (only 1, float32)");
  return std::make_unique<LayerNormOp>(ctx.get_int("axis", -1), ctx.get_float("epsilon", 1e-5f));
}

}  // namespace lstmrt
