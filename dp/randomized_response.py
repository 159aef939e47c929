"""Randomized response (binary and k-ary) with unbiased frequency estimators.

Each report keeps the truth with probability p = e^eps/(e^eps + k - 1) and otherwise is uniform
over the k - 1 other values (Warner 1965; k-RR). Coins come from the CSPRNG as 64-bit uniforms
compared with floor(p 2^64): the keep probability is exact up to 2^-64, which changes eps by at
most ~2^-60 (stated, not hidden). In dp-accounting terms the noise parameter is k/(e^eps + k - 1).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import DPError
from .rng import RandomSource, integers_below, resolve


def keep_probability(epsilon: float, k: int) -> float:
    """Probability that k-RR reports the true value."""
    _check(epsilon, k)
    return 1.0 / (1.0 + (k - 1) * math.exp(-epsilon))


def noise_parameter(epsilon: float, k: int) -> float:
    """dp-accounting's ``RandomizedResponseDpEvent.noise_parameter`` for eps-k-RR."""
    _check(epsilon, k)
    return k / (math.exp(epsilon) + k - 1)


def _check(epsilon: float, k: int) -> None:
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise DPError(f"epsilon must be a positive finite number, got {epsilon!r}")
    if not isinstance(k, int) or k < 2:
        raise DPError(f"k must be an int >= 2, got {k!r}")


def _keep_coins(p: float, size: int, rng: RandomSource) -> np.ndarray:
    words = np.empty(size, dtype=np.uint64)
    rng.fill(words)
    threshold = np.uint64(min(int(p * 2.0**64), 2**64 - 1))
    return words < threshold


def randomize_kary(values: np.ndarray, k: int, epsilon: float, *, rng: RandomSource | None = None
                   ) -> np.ndarray:
    """k-RR of integer ``values`` in [0, k): eps-LDP per report."""
    p = keep_probability(epsilon, k)
    v = np.asarray(values)
    if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer) or v.size and (v.min() < 0 or v.max() >= k):
        raise DPError(f"values must be a 1-D integer array in [0, {k})")
    src = resolve(rng)
    keep = _keep_coins(p, v.size, src)
    other = integers_below(src, k - 1, v.size)
    other = other + (other >= v)  # uniform over the k - 1 values different from the truth
    return np.where(keep, v, other).astype(np.int64)


def randomize_binary(bits: np.ndarray, epsilon: float, *, rng: RandomSource | None = None) -> np.ndarray:
    """Binary randomized response of 0/1 ``bits``: eps-LDP per report."""
    return randomize_kary(np.asarray(bits).astype(np.int64, copy=False), 2, epsilon, rng=rng)


def estimate_frequencies(reports: np.ndarray, k: int, epsilon: float) -> np.ndarray:
    """Unbiased estimate of the true frequency of each of the k values from k-RR reports.

    E[share of v] = q + (p - q) f_v with q = (1 - p)/(k - 1), so f_v = (share - q)/(p - q).
    """
    p = keep_probability(epsilon, k)
    q = (1.0 - p) / (k - 1)
    r = np.asarray(reports)
    if r.ndim != 1 or r.size == 0 or not np.issubdtype(r.dtype, np.integer):
        raise DPError("reports must be a non-empty 1-D integer array")
    if r.min() < 0 or r.max() >= k:
        raise DPError(f"reports must lie in [0, {k}), got values in [{r.min()}, {r.max()}]")
    share = np.bincount(r, minlength=k) / r.size
    return (share - q) / (p - q)


def estimate_mean_binary(reports: np.ndarray, epsilon: float) -> float:
    """Unbiased estimate of the fraction of true 1s from binary RR reports."""
    return float(estimate_frequencies(np.asarray(reports).astype(np.int64), 2, epsilon)[1])
