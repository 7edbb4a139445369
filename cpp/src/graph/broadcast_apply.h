// What the elementwise operators with two or more operands share: the broadcast loop and integer
// arithmetic that wraps around.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <type_traits>

#include "op_util.h"

namespace lstmrt {

// out = f(a, b) elementwise under broadcasting; `out` is sized already. The inner loop is
// specialised for the common stride patterns so that the compiler vectorises it.
template <class TA, class TB, class R, class F>
void binary_apply(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  R* po = out.data<R>();
  // The common layouts skip setting up the general loop: both operands of the output's shape, or
  // one of them with the other repeated along its leading dims (a bias, a scalar).
  const int64_t n = out.numel();
  if (a.shape() == out.shape() && ends_with(out.shape(), b.shape())) {
    const int64_t m = b.numel();
    if (m == n) {
      for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j], pb[j]);
    } else if (m == 1) {
      const TB yv = *pb;
      for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j], yv);
    } else {
      for (int64_t o = 0; o < n; o += m)
        for (int64_t j = 0; j < m; ++j) po[o + j] = f(pa[o + j], pb[j]);
    }
    return;
  }
  if (b.shape() == out.shape() && ends_with(out.shape(), a.shape())) {
    const int64_t m = a.numel();
    if (m == 1) {
      const TA xv = *pa;
      for (int64_t j = 0; j < n; ++j) po[j] = f(xv, pb[j]);
    } else {
      for (int64_t o = 0; o < n; o += m)
        for (int64_t j = 0; j < m; ++j) po[o + j] = f(pa[j], pb[o + j]);
    }
    return;
  }
  StridedLoop loop(out.shape(), {broadcast_strides(a.shape(), out.shape()), broadcast_strides(b.shape(), out.shape())});
  const int64_t sa = loop.inner_stride(0), sb = loop.inner_stride(1);
  int64_t o = 0;
  loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
    const TA* x = pa + off[0];
    const TB* y = pb + off[1];
    R* z = po + o;
    o += n;
    if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], y[j]);
    } else if (sa == 1 && sb == 0) {
      const TB yv = *y;
      for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], yv);
    } else if (sa == 0 && sb == 1) {
      const TA xv = *x;
      for (int64_t j = 0; j < n; ++j) z[j] = f(xv, y[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) z[j] = f(x[j * sa], y[j * sb]);
    }
  });
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
