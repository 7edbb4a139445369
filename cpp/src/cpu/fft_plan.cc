#include "cpu/fft_plan.h"

#include <cmath>

namespace lstmrt {

namespace {

// exp(-2 pi i num / den) as float parts, num reduced first so that the angle stays small.
void unit_root(int64_t num, int64_t den, float& re, float& im) {
  const double theta = -2.0 * M_PI * static_cast<double>(num % den) / static_cast<double>(den);
  re = static_cast<float>(std::cos(theta));
  im = static_cast<float>(std::sin(theta));
}

}  // namespace

std::optional<FftPlan> FftPlan::make(int64_t n) {
  if (n < 2) return std::nullopt;
  // Radix 4 first (the cheapest butterfly per point), then 2, 3 and 5.
  std::vector<int> radices;
  int64_t rest = n;
  while (rest % 4 == 0) {
    radices.push_back(4);
    rest /= 4;
  }
  for (int r : {2, 3, 5})
    while (rest % r == 0) {
      radices.push_back(r);
      rest /= r;
    }
  if (rest != 1) return std::nullopt;
  FftPlan plan;
  plan.n = n;
  int64_t length = n;
  for (int r : radices) {
    FftStage st;
    st.radix = r;
    st.length = length;
    const int64_t m = length / r;
    st.twiddle_re.resize(static_cast<size_t>((r - 1) * m));
    st.twiddle_im.resize(st.twiddle_re.size());
    for (int u = 1; u < r; ++u)
      for (int64_t p = 0; p < m; ++p) {
        const size_t i = static_cast<size_t>((u - 1) * m + p);
        unit_root(p * u, length, st.twiddle_re[i], st.twiddle_im[i]);
      }
    if (r == 3 || r == 5) {
      st.dft_re.resize(static_cast<size_t>(r * r));
      st.dft_im.resize(st.dft_re.size());
      for (int t = 0; t < r; ++t)
        for (int u = 0; u < r; ++u) unit_root(int64_t{t} * u, r, st.dft_re[t * r + u], st.dft_im[t * r + u]);
    }
    plan.stages.push_back(std::move(st));
    length = m;
  }
  // Stage i's output u goes to the u-th block of its span: point k (k mod r1 the first stage's
  // u, then (k / r1) mod r2 the second's, ...) ends at sum of u_i times the stage's span / r_i.
  plan.order.resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    int64_t rest = k, at = 0, span = n;
    for (int r : radices) {
      span /= r;
      at += (rest % r) * span;
      rest /= r;
    }
    plan.order[static_cast<size_t>(k)] = at;
  }
  return plan;
}

std::optional<FftPlan> FftPlan::make_real(int64_t n) {
  if (n < 4 || n % 2 != 0) return make(n);
  std::optional<FftPlan> plan = make(n / 2);
  if (!plan) return std::nullopt;
  plan->n = n;
  plan->real_halves = true;
  plan->unzip_re.resize(static_cast<size_t>(n / 2 + 1));
  plan->unzip_im.resize(plan->unzip_re.size());
  for (int64_t k = 0; k <= n / 2; ++k)
    unit_root(k, n, plan->unzip_re[static_cast<size_t>(k)], plan->unzip_im[static_cast<size_t>(k)]);
  return plan;
}

}  // namespace lstmrt
