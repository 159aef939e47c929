"""Arithmetic in GF(p), p = 2^31 - 1, as numba kernels (the raw layer under :mod:`secagg.shamir`).

Why this prime: p is a Mersenne prime, so a product of two field elements is below 2^62 and fits
exactly in a uint64 — every multiplication in a numba kernel is one native multiply and two
shift-and-add folds, with no 128-bit arithmetic and no rounding anywhere. Why this limb split: a
32-byte secret is cut into nine limbs of at most 30 bits (the top one carries 16), each below p,
and each limb is shared with its own independent uniform coefficients, so every limb — and thus
the whole secret — keeps Shamir's perfect secrecy. Party x-coordinates must lie in [1, p).

Kernels take uint64 arrays whose entries are already reduced (< p) and write into ``out``; the
safe layer (:mod:`secagg.shamir`) validates everything before calling them. Each kernel has a
pure-Python reference (``_reference_*``) with big-int arithmetic that the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PRIME = (1 << 31) - 1
_P = np.uint64(PRIME)
_SHIFT = np.uint64(31)


@njit(cache=True, inline="always")
def _fold(x):
    """Reduce x < 2^63 modulo p with two Mersenne folds and one conditional subtraction.

    After the first fold x < 2^31 + 2^32, after the second x <= p + 2, so one subtraction ends it.
    """
    x = (x & _P) + (x >> _SHIFT)
    x = (x & _P) + (x >> _SHIFT)
    return x - _P if x >= _P else x


@njit(cache=True, inline="always")
def mulmod(a, b):
    """a * b mod p for a, b < p (uint64)."""
    return _fold(a * b)


@njit(cache=True, inline="always")
def muladd(a, b, c):
    """a * b + c mod p for a, b, c < p (uint64): a*b + c < 2^62 + 2^31, so one fold reduces it."""
    return _fold(a * b + c)


@njit(cache=True, inline="always")
def addmod(a, b):
    """a + b mod p for a, b < p (uint64)."""
    s = a + b
    return s - _P if s >= _P else s


@njit(cache=True)
def powmod(a, e):
    """a^e mod p by square-and-multiply."""
    result = np.uint64(1)
    base = a
    while e > 0:
        if e & 1:
            result = mulmod(result, base)
        base = mulmod(base, base)
        e >>= 1
    return result


@njit(cache=True)
def eval_polys(coeffs, xs, out):
    """out[i, l] = Σ_j coeffs[l, j] · xs[i]^j mod p (Horner), for every point and polynomial.

    The polynomial loop is innermost so the independent Horner chains overlap in the pipeline
    (one chain alone waits on each multiply): twice as fast at n = 500, t = 334.
    """
    n_poly, degree1 = coeffs.shape
    for i in range(xs.shape[0]):
        x = xs[i]
        for poly in range(n_poly):
            out[i, poly] = coeffs[poly, degree1 - 1]
        for j in range(degree1 - 2, -1, -1):
            for poly in range(n_poly):
                out[i, poly] = muladd(out[i, poly], x, coeffs[poly, j])


@njit(cache=True)
def lagrange_at_zero(xs, out):
    """out[i] = Π_{j≠i} x_j / (x_j − x_i) mod p: the weights that interpolate f(0)."""
    t = xs.shape[0]
    for i in range(t):
        num = np.uint64(1)
        den = np.uint64(1)
        for j in range(t):
            if j != i:
                num = mulmod(num, xs[j])
                den = mulmod(den, addmod(xs[j], _P - xs[i]))
        out[i] = mulmod(num, powmod(den, PRIME - 2))


@njit(cache=True)
def combine(weights, ys, out):
    """out[job, l] = Σ_i weights[i] · ys[job, i, l] mod p (Lagrange interpolation at 0)."""
    n_jobs, t, n_limbs = ys.shape
    for job in range(n_jobs):
        for limb in range(n_limbs):
            out[job, limb] = 0
        for i in range(t):
            w = weights[i]
            for limb in range(n_limbs):
                out[job, limb] = muladd(w, ys[job, i, limb], out[job, limb])


def _reference_eval_polys(coeffs: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Big-int reference of :func:`eval_polys`."""
    out = np.zeros((len(xs), coeffs.shape[0]), dtype=np.uint64)
    for i, x in enumerate(int(v) for v in xs):
        for poly in range(coeffs.shape[0]):
            out[i, poly] = sum(int(c) * x**j for j, c in enumerate(coeffs[poly])) % PRIME
    return out


def _reference_lagrange_at_zero(xs: np.ndarray) -> np.ndarray:
    """Big-int reference of :func:`lagrange_at_zero`."""
    pts = [int(v) for v in xs]
    out = np.zeros(len(pts), dtype=np.uint64)
    for i, xi in enumerate(pts):
        num = den = 1
        for j, xj in enumerate(pts):
            if j != i:
                num, den = num * xj % PRIME, den * (xj - xi) % PRIME
        out[i] = num * pow(den, PRIME - 2, PRIME) % PRIME
    return out


def _reference_combine(weights: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Big-int reference of :func:`combine`."""
    w = [int(v) for v in weights]
    out = np.zeros((ys.shape[0], ys.shape[2]), dtype=np.uint64)
    for job in range(ys.shape[0]):
        for limb in range(ys.shape[2]):
            out[job, limb] = sum(wi * int(ys[job, i, limb]) for i, wi in enumerate(w)) % PRIME
    return out
