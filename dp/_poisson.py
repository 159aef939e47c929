"""Fast exact Poisson/Skellam: the algorithm of ``_poisson_exact.py`` with each comparison of a
53-bit uniform against an acceptance probability or a geometric boundary decided from float64
values carrying rigorous relative error bounds. When a bound cannot certify the outcome
(probability ~1e-10 per draw), the kernel rolls back to the start of that draw and flags it; the
caller replays the draw in exact big-int arithmetic (``_poisson_exact``) on the same stream. The
output is therefore exactly the output of the exact algorithm.

Tables: acceptance probabilities h(z)/E(z) for the middle window and both tails, built by
cumulative products; each entry is within relative error ``err`` (<= 6 roundings per factor, counted
as 8, times 2.1). Tail tables stop where the value drops below 2^-100 (or where m + z < 0 on the left);
past their end only rejection can be certified (the values keep decreasing).
The sampling kernels allocate nothing and run with ``_nrt=False`` (see ``_kernels``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numba
import numpy as np

from . import _kernels as K
from ._poisson_exact import envelope

_TINY = 2.0**-100
_U53 = 2.0**-53
_GEO_REL = 1e-12  # relative error bound of exp(d * log1p(-1/L)) for d * |log rho| <= ~80
_FALLBACK = np.uint64(2)


#: numba.njit typed loosely: ``_nrt=False`` (no runtime: these kernels allocate nothing) is a
#: private flag its stubs do not list.
njit: Any = numba.njit


@njit(cache=True)
def _table(first: float, num_mult, num_add, den_mult, den_add, j0, step, count, stop_tiny):
    """first * cumulative products of (num_mult j + num_add)/(den_mult j + den_add), j = j0 + step k."""
    out = np.empty(count + 1)
    out[0] = first
    v = first
    n = 0
    for k in range(count):
        j = j0 + step * k
        v = v * ((num_mult * j + num_add) / (den_mult * j + den_add))
        out[k + 1] = v
        n = k + 1
        if stop_tiny and v < 2.0**-100:
            break
    return out[: n + 1]


@lru_cache(maxsize=16)
def tables(a: int, b: int) -> tuple:
    """(params tuple, mid, right, left, err) for Poisson(a/b); cached per rational."""
    m, w, left, lp, lm, total = envelope(a, b)
    fa, fb = float(a), float(b)
    # middle: z = -left..w; right side cumulative from z = 0, left side from z = 0 downwards
    up = _table(1.0, 0.0, fa, fb, 0.0, m + 1, 1, w, False)  # h(0..w)
    down = _table(1.0, fb, 0.0, 0.0, fa, m, -1, left, False)  # h(0), h(-1), ...: j = m, m-1..
    mid = np.concatenate([down[:0:-1], up])
    rcap = int(80 * lp) + 2
    right = _table(up[-1], 0.0, fa * lp, fb * (lp - 1), 0.0, m + w + 1, 1, rcap, True)
    if m > w:
        lcap = min(m - w, int(80 * lm) + 2)
        lft = _table(down[-1], fb * lm, 0.0, 0.0, fa * (lm - 1), m - w, -1, lcap, True)
        left_end = 0.0 if lft.size - 1 == m - w else lft[-1]
    else:
        lft, left_end = np.ones(1), 0.0
    steps = max(w + right.size, left + lft.size)
    err = 2.1 * (8 * steps + 8) * 2.0**-53  # <= 6 roundings per factor
    right_end = right[-1]
    params = (m, w, left, lp, lm, total, math.log1p(-1 / lp), math.log1p(-1 / lm),
              right_end * (1 + err), left_end * (1 + err), err, _GEO_REL)
    return params, mid, right, lft


@njit(cache=True, _nrt=False)
def _geometric(words, st, lr, dmax, g):
    """D by inversion of a 53-bit uniform, certified; -1 = not certifiable, dmax+1 = beyond table."""
    k = K._next_bits(words, st, 53)
    if st[1] or k == 0:
        return -1
    lo = k * 2.0**-53
    hi = (k + 1) * 2.0**-53
    d = 1 + int(math.floor(math.log((k + 0.5) * 2.0**-53) / lr))
    if d < 1:
        d = 1
    if d > dmax:  # certify only D > dmax, i.e. U < rho^dmax
        if hi <= math.exp(dmax * lr) * (1 - g):
            return dmax + 1
        return -1
    if math.exp(d * lr) * (1 + g) <= lo and hi <= math.exp((d - 1) * lr) * (1 - g):
        return d
    return -1


@njit(cache=True, _nrt=False)
def _accept(words, st, p, err):
    """1 accept / 0 reject / -1 not certifiable, for V < p with p known to relative error err.

    p <= 0 encodes "the probability is at most -p": only rejection can be certified.
    """
    k = K._next_bits(words, st, 53)
    lo = k * 2.0**-53
    if p <= 0:
        return 0 if lo >= -p else -1
    if (k + 1) * 2.0**-53 <= p * (1 - err):
        return 1
    if lo >= p * (1 + err):
        return 0
    return -1


@njit(cache=True, _nrt=False)
def poisson_fast(words, st, m, w, left, lp, lm, total, lrp, lrm, rend, lend, err, geo, mid, right,
                 lft):
    """One Poisson draw (see module doc); sets st[1] = 2 when a decision needs the exact path."""
    nmid = w + left + 1
    while True:
        u = K.uniform_below(words, st, total)
        if st[1]:
            return 0
        if u < nmid:
            z = u - left
            p = mid[u]
        elif u < nmid + lp - 1:
            d = _geometric(words, st, lrp, right.size - 1, geo)
            if d < 0 or st[1]:
                st[1] = st[1] if st[1] else _FALLBACK
                return 0
            z = w + d
            p = right[d] if d < right.size else -rend  # negative: only an upper bound
        else:
            d = _geometric(words, st, lrm, lft.size - 1, geo)
            if d < 0 or st[1]:
                st[1] = st[1] if st[1] else _FALLBACK
                return 0
            z = -w - d
            p = lft[d] if d < lft.size else -lend
        r = _accept(words, st, p, err)
        if st[1]:
            return 0
        if r < 0:
            st[1] = _FALLBACK
            return 0
        if r == 1:
            return m + z


@njit(cache=True, _nrt=False)
def fill_skellam_fast(out, start, words, st, m, w, left, lp, lm, total, lrp, lrm, rend, lend,
                      err, geo, mid, right, lft, pair):
    """Fill out[start:] with Poisson - Poisson (pair) or Poisson draws; returns the index reached.

    On exhaustion st[1] is reset to 0, on a non-certifiable decision it stays 2; either way the
    state is rolled back to the start of the unfinished draw.
    """
    i = start
    while i < out.size:
        p0, r0, k0 = st[0], st[2], st[3]
        x = poisson_fast(words, st, m, w, left, lp, lm, total, lrp, lrm, rend, lend, err, geo,
                         mid, right, lft)
        y = 0
        if pair and not st[1]:
            y = poisson_fast(words, st, m, w, left, lp, lm, total, lrp, lrm, rend, lend, err,
                             geo, mid, right, lft)
        if st[1]:
            flag = st[1]
            st[0], st[2], st[3] = p0, r0, k0
            st[1] = flag if flag == _FALLBACK else np.uint64(0)
            return i
        out[i] = x - y
        i += 1
    return i
