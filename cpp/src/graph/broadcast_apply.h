// What the elementwise operators share: when a pass splits over threads (for every elementwise
// pass, unary ones and reductions too), the broadcast loop, and integer arithmetic that wraps
// around.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cpu/threading.h"
#include "op_util.h"

namespace lstmrt {

// An elementwise pass over at least this many elements splits over the threads (a fork and join
// costs a few microseconds, a pass of 64 Ki floats about as much), in pieces of whole multiples
// of the grain. bench/test_bench_real_models.py's onnx-asr front ends at 2 threads re-derive it.
constexpr int64_t kMinParallelElements = 65536;
constexpr int64_t kParallelGrain = 4096;

// The threads for an elementwise pass of n elements, given the call's (resolved) threads.
inline int elementwise_threads(int64_t n, int threads) { return n >= kMinParallelElements ? threads : 1; }

// z[j] = f(x[j * sx], y[j * sy]) for j < n. The strides operands come in (contiguous, or one a
// single value) get loops of their own, which the compiler vectorizes.
template <class TA, class TB, class R, class F>
void binary_row(const TA* x, int64_t sx, const TB* y, int64_t sy, R* z, int64_t n, F& f) {
  if (sx == 1 && sy == 1) {
    for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], y[j]);
  } else if (sx == 1 && sy == 0) {
    const TB yv = *y;
    for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], yv);
  } else if (sx == 0 && sy == 1) {
    const TA xv = *x;
    for (int64_t j = 0; j < n; ++j) z[j] = f(xv, y[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) z[j] = f(x[j * sx], y[j * sy]);
  }
}

// out = f(a, b) elementwise under broadcasting; `out` is sized already. The inner loop is
// specialised for the common stride patterns so that the compiler vectorises it. When each
// operand is whole or a single value, the pass splits over `threads`; every element is computed
// on its own, so the bits do not depend on them.
template <class TA, class TB, class R, class F>
void binary_apply_on(int threads, const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  R* po = out.data<R>();
  const int64_t n = out.numel();
  // An operand with as many elements as the output differs from its shape only by axes of size
  // 1 (broadcasting cannot reorder), so it lines up element for element.
  const int64_t sa = a.numel() == n ? 1 : 0, sb = b.numel() == n ? 1 : 0;
  if ((sa || a.numel() == 1) && (sb || b.numel() == 1)) {
    parallel_for(n, elementwise_threads(n, threads), kParallelGrain, [&](int64_t s, int64_t e) {
      binary_row(pa + s * sa, sa, pb + s * sb, sb, po + s, e - s, f);
    });
    return;
  }
  // The other common layout skips setting up the general loop: one operand of the output's
  // shape, the other repeated along its leading dims (a bias).
  if (a.shape() == out.shape() && ends_with(out.shape(), b.shape())) {
    const int64_t m = b.numel();
    for (int64_t o = 0; o < n; o += m)
      for (int64_t j = 0; j < m; ++j) po[o + j] = f(pa[o + j], pb[j]);
    return;
  }
  if (b.shape() == out.shape() && ends_with(out.shape(), a.shape())) {
    const int64_t m = a.numel();
    for (int64_t o = 0; o < n; o += m)
      for (int64_t j = 0; j < m; ++j) po[o + j] = f(pa[j], pb[o + j]);
    return;
  }
  StridedLoop loop(out.shape(), {broadcast_strides(a.shape(), out.shape()), broadcast_strides(b.shape(), out.shape())});
  int64_t o = 0;
  loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t rows) {
    binary_row(pa + off[0], loop.inner_stride(0), pb + off[1], loop.inner_stride(1), po + o, rows, f);
    o += rows;
  });
}

// binary_apply_on one thread.
template <class TA, class TB, class R, class F>
void binary_apply(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  binary_apply_on<TA, TB, R>(1, a, b, out, f);
}

// Integer arithmetic wraps around, as in NumPy and onnxruntime. It is done in the unsigned type,
// where wrapping is defined; signed overflow is undefined behaviour in C++.
template <class T>
T wrapping_add(T p, T q) {
  if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(p) + static_cast<U>(q)));
  } else {
    return static_cast<T>(p + q);
  }
}

template <class T>
T wrapping_sub(T p, T q) {
  if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(p) - static_cast<U>(q)));
  } else {
    return static_cast<T>(p - q);
  }
}

template <class T>
T wrapping_mul(T p, T q) {
  if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
    // uint32_t * uint32_t would promote to int on some platforms; uint64_t never does.
    return static_cast<T>(static_cast<uint64_t>(static_cast<int64_t>(p)) * static_cast<uint64_t>(static_cast<int64_t>(q)));
  } else {
    return static_cast<T>(p * q);
  }
}

}  // namespace lstmrt
