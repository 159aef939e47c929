"""Real-valued Laplace and Gaussian noise without floating-point leaks, and analytic calibration.

Secure path (default): snap the input to a grid g = 2^-k and add g * (exact discrete noise), so
every output is a multiple of g and its distribution does not depend on the float representation
of the input (Mironov 2012 attacks the textbook float Laplace). g is chosen so the noise spans
~2^15 (Gaussian) or ~2^20 (Laplace) grid steps; snapping adds at most g/2 per coordinate to the
sensitivity (L2: g sqrt(d)/2), which callers include. The plain float path exists only on request
(``secure=False``), still draws CSPRNG uniforms, and warns with :class:`InsecureNoiseWarning`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import samplers
from .errors import DPError, InsecureNoiseWarning
from .rng import RandomSource, resolve, uniform01

_GAUSS_STEPS = 15  # sigma / grid in [2^14, 2^15]: exact sampler bounds hold (sigma^2 < 2^30)
_LAP_STEPS = 20


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def gaussian_delta(sigma: float, epsilon: float, sensitivity: float = 1.0) -> float:
    """Exact delta(eps) of the Gaussian mechanism (Balle & Wang 2018, Thm. 8)."""
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    tail = _phi(-a - b)
    second = 0.0 if tail == 0.0 else math.exp(epsilon + math.log(tail))
    return _phi(a - b) - second


def calibrate_analytic_gaussian(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """Smallest sigma with the Gaussian mechanism (epsilon, delta)-DP (Balle & Wang 2018).

    delta(sigma) is decreasing, so bisection on sigma (to relative precision 1e-12) suffices.
    """
    for name, v in (("epsilon", epsilon), ("sensitivity", sensitivity)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise DPError(f"{name} must be a positive finite number, got {v!r}")
    if not 0 < delta < 1 or epsilon > 700:
        raise DPError("need 0 < delta < 1 and epsilon <= 700")
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

    Secure mode: (sigma/g)^2 is rounded to a rational with relative error < 1e-8.
    """
    src = resolve(rng)
    if not secure:
        _insecure("Gaussian")
        v = np.asarray(x, dtype=np.float64)
        u1, u2 = uniform01(src, v.size), uniform01(src, v.size)
        z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * math.pi * u2)  # Box-Muller
        return v + sigma * z.reshape(v.shape)
    g = grid_for(sigma, _GAUSS_STEPS)
    q = _snap(x, g)
    noise = samplers.discrete_gaussian((sigma / g) ** 2, q.size, rng=src).reshape(q.shape)
    return (q + noise).astype(np.float64) * g


def add_laplace_noise(x: np.ndarray, scale: float, *, rng: RandomSource | None = None,
                      secure: bool = True) -> np.ndarray:
    """x + Laplace(scale) per coordinate; secure: snap to grid g, add g * DLap(scale/g)."""
    src = resolve(rng)
    if not secure:
        _insecure("Laplace")
        v = np.asarray(x, dtype=np.float64)
        u = uniform01(src, v.size) - 0.5
        z = -np.sign(u) * np.log1p(-2.0 * np.abs(u))
        return v + scale * z.reshape(v.shape)
    g = grid_for(scale, _LAP_STEPS)
    q = _snap(x, g)
    noise = samplers.discrete_laplace(scale / g, q.size, rng=src).reshape(q.shape)
    return (q + noise).astype(np.float64) * g
