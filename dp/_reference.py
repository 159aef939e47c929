"""Pure-Python references for the kernels in ``_kernels.py`` and the exact pmfs, for tests
(the Poisson reference is ``_poisson_exact``, which production also uses as its fallback).

The samplers here run the same algorithms on the same word stream with unbounded Python ints, so
a seeded kernel run and a reference run must agree draw for draw. The pmfs are the targets of the
goodness-of-fit tests.
"""

from __future__ import annotations

import math

import numpy as np


class Bits:
    """The kernels' bit reservoir over a fixed array of uint64 words (raises when exhausted)."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = [int(w) for w in words]
        self.pos = 0
        self.res = 0
        self.left = 0

    def bits(self, k: int) -> int:
        if self.left < k:
            self.res = self.words[self.pos]
            self.pos += 1
            self.left = 64
        r = self.res & ((1 << k) - 1)
        self.res >>= k
        self.left -= k
        return r

    def below(self, n: int) -> int:
        if n <= 1:
            return 0
        k = (n - 1).bit_length()
        while True:
            x = self.bits(k)
            if x < n:
                return x

    def bern(self, num: int, den: int) -> bool:
        return self.below(den) < num

    def bern_exp_frac(self, num: int, den: int) -> bool:
        k = 1
        while self.below(k) == 0 and self.bern(num, den):
            k += 1
        return k % 2 == 1

    def bern_exp(self, num: int, den: int) -> bool:
        q, r = divmod(num, den)
        for _ in range(q):
            if not self.bern_exp_frac(1, 1):
                return False
        return self.bern_exp_frac(r, den)


def discrete_laplace_ref(bits: Bits, s: int, t: int) -> int:
    """CKS Algorithm 2, as in ``_kernels.discrete_laplace_one``."""
    while True:
        u = bits.below(t)
        if not bits.bern_exp_frac(u, t):
            continue
        v = 0
        while bits.bern_exp_frac(1, 1):
            v += 1
        y = (u + t * v) // s
        sign = bits.bits(1)
        if sign == 1 and y == 0:
            continue
        return -y if sign else y


def discrete_gaussian_ref(bits: Bits, n: int, d: int, t: int) -> int:
    """CKS Algorithm 3 with sigma^2 = n/d, as in ``_kernels.discrete_gaussian_one``."""
    while True:
        y = discrete_laplace_ref(bits, 1, t)
        a = abs(abs(y) * t * d - n)
        if bits.bern_exp(a * a, 2 * n * d * t * t):
            return y


def discrete_gaussian_pmf(sigma2: float, support: np.ndarray) -> np.ndarray:
    """Exact pmf of N_Z(0, sigma2) on ``support`` (normaliser summed over |z| <= 60 sigma + 60)."""
    r = int(60 * math.sqrt(sigma2)) + 60
    zs = np.arange(-r, r + 1, dtype=np.float64)
    norm = np.exp(-(zs**2) / (2 * sigma2)).sum()
    return np.exp(-(support.astype(np.float64) ** 2) / (2 * sigma2)) / norm


def discrete_laplace_pmf(scale: float, support: np.ndarray) -> np.ndarray:
    """Exact pmf of the discrete Laplace: (1-q)/(1+q) q^|z| with q = exp(-1/scale)."""
    q = math.exp(-1.0 / scale)
    return (1 - q) / (1 + q) * q ** np.abs(support.astype(np.float64))


def poisson_pmf(lam: float, support: np.ndarray) -> np.ndarray:
    """Exact Poisson pmf on ``support`` (non-negative ints)."""
    k = support.astype(np.float64)
    return np.exp(k * math.log(lam) - lam - np.array([math.lgamma(x + 1) for x in k]))


def skellam_pmf(mu: float, support: np.ndarray) -> np.ndarray:
    """pmf of Poisson(mu) - Poisson(mu) via scipy's modified Bessel function (tests only)."""
    from scipy.special import ive

    return ive(np.abs(support), 2 * mu)  # exp(-2mu) I_|k|(2mu)
