"""Real-valued Laplace and Gaussian noise without floating-point leaks, and analytic calibration.

Secure path (default): snap the input to a grid g = 2^-k and add g * (exact discrete noise), so
every output is a multiple of g and its distribution does not depend on the float representation
of the input (Mironov 2012 attacks the textbook float Laplace). g is chosen so the noise spans
~2^15 (Gaussian) or ~2^20 (Laplace) grid steps. Snapping moves each coordinate by at most g/2,
so two snapped inputs differ by at most g more per coordinate than the inputs did (L2: + g sqrt(d),
L1: + g d), which callers include (``local.privatize_update`` clips with that margin). The noise
parameter handed to the exact sampler is rounded up, never below the requested sigma or scale. The plain float path exists only on request
(``secure=False``), still draws CSPRNG uniforms, and warns with :class:`InsecureNoiseWarning`.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np

from . import samplers
from .errors import DPError, InsecureNoiseWarning
from .rng import RandomSource, resolve, uniform01

_GAUSS_STEPS = 15  # sigma / grid in [2^14, 2^15]: exact sampler bounds hold (sigma^2 < 2^30)
_LAP_STEPS = 20
_LAP_DEN = 1 << 16  # scale/g is rounded up to a multiple of 2^-16 (sampler: t, s < 2^40)


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def gaussian_delta(sigma: float, epsilon: float, sensitivity: float = 1.0) -> float:
    """Exact delta(eps) of the Gaussian mechanism (Balle & Wang 2018, Thm. 8)."""
    _check_scale("sigma", sigma)
    _check_scale("sensitivity", sensitivity)
    if isinstance(epsilon, bool) or not (isinstance(epsilon, int | float) and 0 <= epsilon <= 700):
        raise DPError(f"epsilon must be in [0, 700], got {epsilon!r}")
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    tail = _phi(-a - b)
    second = 0.0 if tail == 0.0 else math.exp(epsilon + math.log(tail))
    return _phi(a - b) - second


def calibrate_analytic_gaussian(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """Smallest sigma with the Gaussian mechanism (epsilon, delta)-DP (Balle & Wang 2018).

    delta(sigma) is decreasing, so bisection on sigma (to relative precision 1e-12) suffices.
    """
    _check_scale("epsilon", epsilon)
    _check_scale("sensitivity", sensitivity)
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
        raise DPError(f"delta must be in (0, 1), got {delta!r}")
    if epsilon > 700:
        raise DPError(f"epsilon must be <= 700 (exp(epsilon) overflows), got {epsilon!r}")
    lo, hi = 1e-12 * sensitivity, sensitivity
    while gaussian_delta(hi, epsilon, sensitivity) > delta:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-12 * hi:
        mid = (lo + hi) / 2
        if gaussian_delta(mid, epsilon, sensitivity) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def _check_scale(name: str, v: float) -> None:
    if isinstance(v, bool) or not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
        raise DPError(f"{name} must be a positive finite number, got {v!r}")


def gaussian_grid(sigma: float) -> float:
    """The grid g of the secure Gaussian path for ``sigma`` (sigma / g in [2^14, 2^15))."""
    return grid_for(sigma, _GAUSS_STEPS)


def grid_for(scale: float, steps: int) -> float:
    """The power-of-two grid g with scale / g in [2^(steps-1), 2^steps)."""
    if not (math.isfinite(scale) and scale > 0):
        raise DPError(f"noise scale must be a positive finite number, got {scale!r}")
    return 2.0 ** (math.floor(math.log2(scale)) - steps + 1)


def _snap(x: np.ndarray, g: float) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if not np.isfinite(v).all():
        raise DPError("input must be finite")
    q = np.rint(v / g)
    if np.abs(q).max(initial=0) >= 2.0**52:
        raise DPError("input too large for the noise grid")
    return q.astype(np.int64)


def _insecure(kind: str) -> None:
    warnings.warn(
        f"plain floating-point {kind} noise requested (secure=False): its low-order bits can "
        "leak the input (Mironov 2012); use the default secure=True",
        InsecureNoiseWarning,
        stacklevel=3,
    )


def add_gaussian_noise(x: np.ndarray, sigma: float, *, rng: RandomSource | None = None,
                       secure: bool = True) -> np.ndarray:
    """x + N(0, sigma^2) per coordinate; secure: snap to grid g, add g * N_Z(0, (sigma/g)^2).

    Secure mode: (sigma/g)^2 is rounded up to a rational, relative error < 1e-8.
    """
    _check_scale("sigma", sigma)
    src = resolve(rng)
    if not secure:
        _insecure("Gaussian")
        v = np.asarray(x, dtype=np.float64)
        u1, u2 = uniform01(src, v.size), uniform01(src, v.size)
        z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * math.pi * u2)  # Box-Muller
        return v + sigma * z.reshape(v.shape)
    g = gaussian_grid(sigma)
    q = _snap(x, g)
    sigma2 = samplers.sigma2_at_least((Fraction(sigma) / Fraction(g)) ** 2)
    noise = samplers.discrete_gaussian(sigma2, q.size, rng=src).reshape(q.shape)
    return (q + noise).astype(np.float64) * g


def add_laplace_noise(x: np.ndarray, scale: float, *, rng: RandomSource | None = None,
                      secure: bool = True) -> np.ndarray:
    """x + Laplace(scale) per coordinate; secure: snap to grid g, add g * DLap(scale/g), with
    scale/g rounded up to a multiple of 2^-16."""
    _check_scale("scale", scale)
    src = resolve(rng)
    if not secure:
        _insecure("Laplace")
        v = np.asarray(x, dtype=np.float64)
        u = uniform01(src, v.size) - 0.5
        z = -np.sign(u) * np.log1p(-2.0 * np.abs(u))
        return v + scale * z.reshape(v.shape)
    g = grid_for(scale, _LAP_STEPS)
    q = _snap(x, g)
    ratio = samplers.at_least(Fraction(scale) / Fraction(g), _LAP_DEN, "scale")
    noise = samplers.discrete_laplace(ratio, q.size, rng=src).reshape(q.shape)
    return (q + noise).astype(np.float64) * g
