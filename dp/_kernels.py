"""numba kernels for the exact integer samplers, consuming a buffer of CSPRNG words.

Every decision is an integer comparison against uniform integers cut from the words; there is no
floating point anywhere here. The state ``st`` (uint64[4]) is ``[pos, exhausted, reservoir,
bits_left]``. A kernel fills ``out[start:]`` and returns the index it reached; when the words run
out mid-sample it rolls the state back to the start of that sample, so the caller can move the
unread words to the front, refill the rest and resume: the sample is replayed on the same stream,
hence the output is exactly what an infinite stream would give (no bias towards short runs).

The kernels allocate nothing, so they are compiled with ``_nrt=False``: with numba's runtime on,
every call of a helper that reads ``words`` behind a branch paid an atomic incref/decref pair
of the arrays (~35 ns; refcount pruning does not remove it), which made the samplers 5-7x slower.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

_U1 = np.uint64(1)
_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_U63 = np.uint64(63)


#: numba.njit typed loosely: ``_nrt=False`` (no runtime: these kernels allocate nothing) is a
#: private flag its stubs do not list.
njit: Any = numba.njit


@njit(cache=True, inline="always", _nrt=False)
def _next_word(words, st):
    pos = st[0]
    if pos >= np.uint64(words.size):
        st[1] = _U1
        return np.uint64(0)
    st[0] = pos + _U1
    return words[pos]


@njit(cache=True, inline="always", _nrt=False)
def _next_bits(words, st, k):
    """``k`` (1..62) fresh bits as int64; leftover reservoir bits are discarded, never reused."""
    kk = np.uint64(k)
    if st[3] < kk:
        st[2] = _next_word(words, st)
        st[3] = np.uint64(64)
    r = st[2] & ((_U1 << kk) - _U1)
    st[2] = st[2] >> kk
    st[3] = st[3] - kk
    return np.int64(r)


@njit(cache=True, inline="always", _nrt=False)
def _bitlen(x):
    """Bit length of 0 <= x < 2^63 in six halving steps."""
    n = 0
    if x >= 1 << 32:
        x >>= 32
        n += 32
    if x >= 1 << 16:
        x >>= 16
        n += 16
    if x >= 1 << 8:
        x >>= 8
        n += 8
    if x >= 1 << 4:
        x >>= 4
        n += 4
    if x >= 1 << 2:
        x >>= 2
        n += 2
    if x >= 2:
        x >>= 1
        n += 1
    return n + x


@njit(cache=True, inline="always", _nrt=False)
def uniform_below(words, st, n):
    """Uniform int64 in [0, n) for 1 <= n < 2^62, by rejection on bitlen(n-1) fresh bits."""
    if n <= 1:
        return np.int64(0)
    k = _bitlen(n - 1)
    while True:
        x = _next_bits(words, st, k)
        if st[1]:
            return np.int64(0)
        if x < n:
            return x


@njit(cache=True, inline="always", _nrt=False)
def bern_rational(words, st, num, den):
    """Bernoulli(num/den), 0 <= num <= den < 2^62."""
    return uniform_below(words, st, den) < num


@njit(cache=True, _nrt=False)
def bern_exp_frac(words, st, num, den):
    """Bernoulli(exp(-num/den)) for 0 <= num <= den < 2^62 (CKS 2020, Algorithm 1, gamma <= 1)."""
    k = 1
    while True:
        if uniform_below(words, st, k) != 0:  # Bernoulli(1/k) failed
            break
        if not bern_rational(words, st, num, den):
            break
        if st[1]:
            return False
        k += 1
    return (k & 1) == 1


@njit(cache=True, _nrt=False)
def bern_exp1(words, st):
    """Bernoulli(exp(-1))."""
    return bern_exp_frac(words, st, 1, 1)


@njit(cache=True, _nrt=False)
def bern_exp(words, st, num, den):
    """Bernoulli(exp(-num/den)) for num >= 0, 1 <= den < 2^62: floor(gamma) exp(-1)s, then the rest."""
    q = num // den
    for _ in range(q):
        if not bern_exp1(words, st):
            return False
        if st[1]:
            return False
    return bern_exp_frac(words, st, num - q * den, den)


@njit(cache=True, _nrt=False)
def _mul128(a, b):
    """(hi, lo) of the 128-bit product of two uint64."""
    a0 = a & _MASK32
    a1 = a >> _U32
    b0 = b & _MASK32
    b1 = b >> _U32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _U32) + (p01 & _MASK32) + (p10 & _MASK32)
    lo = (p00 & _MASK32) | ((mid & _MASK32) << _U32)
    hi = p11 + (p01 >> _U32) + (p10 >> _U32) + (mid >> _U32)
    return hi, lo


@njit(cache=True, _nrt=False)
def bern_exp_square(words, st, a, b):
    """Bernoulli(exp(-a^2/b)) for 0 <= a < 2^63, 1 <= b < 2^62, exact via 128-bit a^2.

    If floor(a^2/b) >= 2^64 we run exp(-1) trials until the first failure (the only other outcome
    needs 2^64 successes in a row, probability exp(-2^64)).
    """
    if a <= 3037000499:
        sq = a * a
        return bern_exp(words, st, sq, b)
    hi, lo = _mul128(np.uint64(a), np.uint64(a))
    ub = np.uint64(b)
    if hi >= ub:
        while bern_exp1(words, st):
            if st[1]:
                return False
        return False
    rem = hi
    q = np.uint64(0)
    for i in range(63, -1, -1):
        sh = np.uint64(i)
        rem = (rem << _U1) | ((lo >> sh) & _U1)
        if rem >= ub:
            rem -= ub
            q |= _U1 << sh
    # exp(-(q + rem/b)): q may exceed int64 range; the loop ends at the first failure anyway
    while q > 0:
        if not bern_exp1(words, st):
            return False
        if st[1]:
            return False
        q -= _U1
    return bern_exp_frac(words, st, np.int64(rem), b)


@njit(cache=True, _nrt=False)
def discrete_laplace_one(words, st, s, t, vmax):
    """One draw with P(z) proportional to exp(-|z| s/t) (CKS 2020, Algorithm 2)."""
    while True:
        u = uniform_below(words, st, t)
        if not bern_exp_frac(words, st, u, t):
            if st[1]:
                return np.int64(0)
            continue
        v = 0
        while bern_exp1(words, st):
            v += 1
            if st[1] or v >= vmax:
                break
        if st[1]:
            return np.int64(0)
        if v >= vmax:  # probability exp(-vmax), vmax >= 1000: restart (documented)
            continue
        y = (u + t * v) // s
        sign = _next_bits(words, st, 1)
        if st[1]:
            return np.int64(0)
        if sign == 1 and y == 0:
            continue
        return y if sign == 0 else -y


@njit(cache=True, _nrt=False)
def discrete_gaussian_one(words, st, n, d, t, vmax):
    """One draw from N_Z(0, n/d) (CKS 2020, Algorithm 3), t = floor(sigma) + 1."""
    b = 2 * n * d * t * t
    while True:
        y = discrete_laplace_one(words, st, 1, t, vmax)
        if st[1]:
            return np.int64(0)
        a = abs(y) * t * d - n
        if a < 0:
            a = -a
        if bern_exp_square(words, st, a, b):
            return y
        if st[1]:
            return np.int64(0)


@njit(cache=True, _nrt=False)
def fill_discrete_laplace(out, start, words, st, s, t, vmax):
    """Fill out[start:] with discrete Laplace draws; returns the index reached (see module doc)."""
    i = start
    while i < out.size:
        p0, r0, k0 = st[0], st[2], st[3]
        y = discrete_laplace_one(words, st, s, t, vmax)
        if st[1]:
            st[0], st[1], st[2], st[3] = p0, np.uint64(0), r0, k0
            return i
        out[i] = y
        i += 1
    return i


@njit(cache=True, _nrt=False)
def fill_discrete_gaussian(out, start, words, st, n, d, t, vmax):
    """Fill out[start:] with discrete Gaussian draws; returns the index reached."""
    i = start
    while i < out.size:
        p0, r0, k0 = st[0], st[2], st[3]
        y = discrete_gaussian_one(words, st, n, d, t, vmax)
        if st[1]:
            st[0], st[1], st[2], st[3] = p0, np.uint64(0), r0, k0
            return i
        out[i] = y
        i += 1
    return i
