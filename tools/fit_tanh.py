"""Fits the odd polynomial that lstmrt's vector tanh uses for |x| < 0.55.

tanh(x) = x + x^3 * P(x^2) on [0, 0.55]; P is a least-squares fit on Chebyshev nodes in float64,
weighted to minimise the error relative to tanh(x). Prints coefficients (lowest degree first) and
the worst relative error of the float64 polynomial. Run: python tools/fit_tanh.py
"""
import numpy as np

LIMIT = 0.55
DEGREE = 5  # in z = x^2

n = 4000
x = LIMIT * (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n))
x = x[x > 1e-4]
z = x * x
target = (np.tanh(x) - x) / x**3
# Weight by x^3 / tanh(x): the residual then measures the error relative to tanh(x).
w = x**3 / np.tanh(x)
V = np.vander(z, DEGREE + 1, increasing=True)
coef, *_ = np.linalg.lstsq(V * w[:, None], target * w, rcond=None)
coef32 = coef.astype(np.float32).astype(np.float64)
xs = np.linspace(1e-6, LIMIT, 200001)
approx = xs + xs**3 * np.polyval(coef32[::-1], xs * xs)
print("coefficients:", ", ".join(f"{c:.9e}f" for c in coef32))
print("max relative error (float64 evaluation):", np.max(np.abs(approx / np.tanh(xs) - 1)))
