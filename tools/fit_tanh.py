"""Fits the rational function that lstmrt's vector tanh uses.

tanh(x) ~ x * P(x^2) / Q(x^2) on [0, 9] with P of degree 5 and Q of degree 4 in x^2, P(0) = Q(0) = 1
(so that tiny x, whose square underflows, come out exactly). The fit minimises the largest error
relative to tanh(x) on a dense grid: a linear program for the linearised error
|x P - tanh(x) Q| / (tanh(x) Q_prev), repeated with the previous denominator (Loeb's iteration).
Above 9, tanh(x) rounds to 1 in float32, and so does the fitted function at 9, where lstmrt clamps.

Prints the coefficients (lowest degree first) and the worst error of the float32 evaluation (with
fused multiply-adds, as the kernel does) in units of the float32 spacing at the result.
Run: python tools/fit_tanh.py   (needs NumPy and SciPy)
"""
import numpy as np
from scipy.optimize import linprog

LIMIT = 9.0
NP, NQ = 5, 4  # degrees of P and Q in t = x^2

x = np.concatenate([np.geomspace(1e-3, 0.5, 600), np.linspace(0.5, LIMIT, 3000)])
f, t = np.tanh(x), x * x
q_prev = np.ones_like(x)
for _ in range(12):
    s = 1.0 / (f * q_prev)
    A = np.stack([x * t**k * s for k in range(1, NP + 1)] + [-f * t**k * s for k in range(1, NQ + 1)], 1)
    b = (f - x) * s  # with p0 = q0 = 1 moved to the right-hand side
    n = A.shape[1]
    ones = np.ones((len(x), 1))
    res = linprog(np.r_[np.zeros(n), 1.0], A_ub=np.vstack([np.hstack([A, -ones]), np.hstack([-A, -ones])]),
                  b_ub=np.r_[b, -b], bounds=[(None, None)] * n + [(0, None)], method="highs")
    p = np.r_[1.0, res.x[:NP]]
    q = np.r_[1.0, res.x[NP:n]]
    q_prev = np.polyval(q[::-1], t)

p32, q32 = p.astype(np.float32), q.astype(np.float32)


def fma(a, b, c):  # one rounding, as a fused multiply-add
    return (a.astype(np.float64) * b + c).astype(np.float32)


xs = np.concatenate([np.geomspace(1e-30, 1e-3, 100000), np.linspace(1e-3, LIMIT, 2000000)]).astype(np.float32)
ts = xs * xs
P = np.full_like(ts, p32[-1])
for c in p32[-2::-1]:
    P = fma(P, ts, np.full_like(ts, c))
Q = np.full_like(ts, q32[-1])
for c in q32[-2::-1]:
    Q = fma(Q, ts, np.full_like(ts, c))
got = (xs * P) / Q
exact = np.tanh(xs.astype(np.float64))
ulps = np.abs(got - exact) / np.spacing(exact.astype(np.float32)).astype(np.float64)
print("P:", ", ".join(f"{c!r}f" for c in p32.tolist()))
print("Q:", ", ".join(f"{c!r}f" for c in q32.tolist()))
print(f"worst float32 error: {ulps.max():.2f} ulp at x = {xs[ulps.argmax()]:.6g}; value at {LIMIT}: {got[-1]!r}")
