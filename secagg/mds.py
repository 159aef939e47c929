"""Lagrange (MDS) coding of vectors over GF(p), p = 2^31 - 1: the raw kernels under LightSecAgg.

You probably want :mod:`protocols.lightsecagg`, which chooses the points and checks what it
decodes. This module is the sharp layer it stands on.

A message of k pieces (each a row of L field elements) is read as the values at k distinct
points ``src`` of a polynomial f of degree < k; its code word is f's values at other points
``dst``. Any k values of f at distinct points determine it, so any k code-word rows decode the
message (a Lagrange code is MDS), and k + e rows can be checked against each other: the e rows
beyond the first k must be what the first k predict.

- :func:`lagrange_matrix` fills ``out[a, b] = l_b(dst[a])``, l_b the Lagrange basis polynomial
  of ``src`` that is 1 at ``src[b]`` and 0 at the others: encoding is ``lagrange_matrix(β, α)``,
  decoding from the rows at points S is ``lagrange_matrix(S, β)``. Barycentric weights, one
  batched inversion per row: O(k² + |dst|·k) multiplications.
- :func:`matmul` is ``out = mat · rows mod p``, the one product both directions need.

The field and its exact 64-bit arithmetic are :mod:`secagg.field`'s (a product of two elements
is below 2^62). Kernels take uint64 arrays of reduced elements and write into ``out``; the
callers validate. Each kernel has a big-int reference (``_reference_*``) the tests compare to.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .field import PRIME, addmod, muladd, mulmod, powmod

_P = np.uint64(PRIME)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@njit(cache=True, nogil=True)
def _barycentric_weights(src, w):
    """w[b] = 1 / Π_{c≠b} (src[b] − src[c]): one inversion for all k weights."""
    k = src.shape[0]
    for b in range(k):
        d = _ONE
        for c in range(k):
            if c != b:
                d = mulmod(d, addmod(src[b], _P - src[c]))
        w[b] = d
    _invert_all(w)


@njit(cache=True, nogil=True)
def _invert_all(values):
    """In place: every entry by its inverse, with one exponentiation (Montgomery's trick)."""
    k = values.shape[0]
    prefix = np.empty(k, dtype=np.uint64)
    acc = _ONE
    for i in range(k):
        prefix[i] = acc
        acc = mulmod(acc, values[i])
    inv = powmod(acc, PRIME - 2)
    for i in range(k - 1, -1, -1):
        v = values[i]
        values[i] = mulmod(inv, prefix[i])
        inv = mulmod(inv, v)


@njit(cache=True, nogil=True)
def lagrange_matrix(src, dst, out):
    """out[a, b] = l_b(dst[a]): the Lagrange basis of the distinct points ``src`` at ``dst``.

    A ``dst`` point equal to ``src[b]`` gets the unit row e_b; other points need no care.
    """
    k = src.shape[0]
    w = np.empty(k, dtype=np.uint64)
    _barycentric_weights(src, w)
    diff = np.empty(k, dtype=np.uint64)
    for a in range(dst.shape[0]):
        t = dst[a]
        hit = -1
        full = _ONE  # Π_c (t − src[c])
        for b in range(k):
            diff[b] = addmod(t, _P - src[b])
            if diff[b] == _ZERO:
                hit = b
            full = mulmod(full, diff[b])
        if hit >= 0:
            for b in range(k):
                out[a, b] = _ZERO
            out[a, hit] = _ONE
            continue
        _invert_all(diff)
        for b in range(k):
            out[a, b] = mulmod(mulmod(full, w[b]), diff[b])


@njit(cache=True, nogil=True)
def matmul(mat, rows, out):
    """out[a, l] = Σ_b mat[a, b] · rows[b, l] mod p: encoding or decoding a batch of rows.

    The row loop is innermost and contiguous, so the independent multiply-add chains pipeline.
    """
    n_out, k = mat.shape
    width = rows.shape[1]
    for a in range(n_out):
        for col in range(width):
            out[a, col] = _ZERO
        for b in range(k):
            coef = mat[a, b]
            if coef == _ZERO:
                continue
            for col in range(width):
                out[a, col] = muladd(coef, rows[b, col], out[a, col])


def _reference_lagrange_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Big-int reference of :func:`lagrange_matrix` (the textbook product formula)."""
    pts = [int(v) for v in src]
    out = np.zeros((len(dst), len(pts)), dtype=np.uint64)
    for a, t in enumerate(int(v) for v in dst):
        for b, xb in enumerate(pts):
            num = den = 1
            for c, xc in enumerate(pts):
                if c != b:
                    num = num * (t - xc) % PRIME
                    den = den * (xb - xc) % PRIME
            out[a, b] = num * pow(den, PRIME - 2, PRIME) % PRIME
    return out


def _reference_matmul(mat: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Big-int reference of :func:`matmul`."""
    m = [[int(v) for v in r] for r in mat]
    x = [[int(v) for v in r] for r in rows]
    out = np.zeros((len(m), rows.shape[1]), dtype=np.uint64)
    for a, row in enumerate(m):
        for col in range(rows.shape[1]):
            out[a, col] = sum(c * x[b][col] for b, c in enumerate(row)) % PRIME
    return out
