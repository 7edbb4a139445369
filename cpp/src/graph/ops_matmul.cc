// Dense algebra: Gemm and MatMul, their constant weights packed once for the SIMD GEMM.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "builders.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/packed_matrix.h"
#include "cpu/threading.h"
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

}  // namespace lstmrt
