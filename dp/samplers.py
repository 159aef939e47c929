"""Exact integer noise samplers (discrete Laplace, discrete Gaussian, Poisson, Skellam).

All parameters are rationals (``fractions.Fraction``; a float is rounded *up* to a multiple of
1/max_den, see :func:`as_rational`, so a sampler never draws less noise than asked) so that every
accept/reject
decision is an integer comparison on CSPRNG bits (Canonne, Kamath, Steinke 2020). Outputs are
exact for the stated rational parameter. The only deviations: a geometric counter that reaches
2^20 restarts its draw (probability exp(-2^20)), and Bernoulli(exp(-x)) with x >= 2^64 returns 0
after the first failed exp(-1) trial (the other outcome needs 2^64 successes in a row).
Poisson/Skellam take float shortcuts only where a rigorous error bound certifies the integer
outcome and otherwise replay the draw in big-int arithmetic, so they are exact too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from . import _kernels as K
from . import _poisson as _pf
from . import _poisson_exact as _px
from .errors import DPError
from .rng import RandomSource, resolve

Rational = Fraction | int | float

_WORDS = 1 << 15  # words per refill (256 KiB)
_LIMIT = 1 << 62  # every denominator / product in the kernels stays below this
_VMAX = 1 << 20  # cap on geometric counters: reached with probability <= exp(-2^20)


def _check_rational(x: Rational, name: str) -> None:
    if isinstance(x, bool) or not isinstance(x, Fraction | int | float):
        raise DPError(f"{name} must be a Fraction, int or float, got {type(x).__name__}")
    if isinstance(x, float) and not math.isfinite(x):
        raise DPError(f"{name} must be finite")
    if not x > 0:
        raise DPError(f"{name} must be > 0, got {x}")


def at_least(x: Rational, den: int, name: str = "parameter") -> Fraction:
    """The smallest multiple of 1/den that is >= ``x`` (a float counts at its exact value)."""
    _check_rational(x, name)
    return Fraction(math.ceil(Fraction(x) * den), den)


def as_rational(x: Rational, max_den: int = 1 << 16, name: str = "parameter") -> Fraction:
    """``x`` as a positive Fraction: ints and Fractions exactly, a float rounded up to the next
    multiple of 1/max_den (never below the float, which is what a noise scale wants)."""
    _check_rational(x, name)
    if isinstance(x, float):
        return at_least(x, max_den, name)
    return Fraction(x)


def _run(fill: Callable[..., int], size: int, rng: RandomSource | None, *params,
         exact: Callable[[_px.Stream], int] | None = None) -> np.ndarray:
    """Drive a kernel: refill words, move the unread tail to the front, resume (module doc).

    If the kernel flags a draw it cannot certify (st[1] == 2), ``exact`` replays that draw in
    big-int arithmetic on the same stream and the kernel resumes after it.
    """
    if not isinstance(size, int | np.integer) or size < 0:
        raise DPError(f"size must be a non-negative int, got {size!r}")
    src = resolve(rng)
    out = np.empty(int(size), dtype=np.int64)
    words = np.empty(_WORDS, dtype=np.uint64)
    src.fill(words)
    st = np.zeros(4, dtype=np.uint64)
    i = 0
    while True:
        i = fill(out, i, words, st, *params)
        if i >= out.size:
            return out
        if st[1] == 2 and exact is not None:
            i = _replay(exact, out, i, words, st, src)
            continue
        pos = int(st[0])
        if pos == 0:  # one sample needs more than the whole buffer: grow it
            more = np.empty(words.size, dtype=np.uint64)
            src.fill(more)
            words = np.concatenate([words, more])
            continue
        rest = words.size - pos
        words[:rest] = words[pos:]
        src.fill(words[rest:])
        st[0] = 0


def _replay(exact, out: np.ndarray, i: int, words: np.ndarray, st: np.ndarray, src) -> int:
    """Draw out[i] exactly from the kernel's stream position, then hand the position back."""
    stream = _px.Stream(words, int(st[0]), int(st[2]), int(st[3]), src)
    out[i] = exact(stream)
    if stream.pos > words.size:  # the replay read past the buffer: start a fresh one
        src.fill(words)
        st[0] = 0
    else:
        st[0] = stream.pos
    st[1], st[2], st[3] = 0, stream.res, stream.left
    return i + 1


def discrete_laplace(scale: Rational, size: int, *, rng: RandomSource | None = None) -> np.ndarray:
    """``size`` int64 draws with P(z) proportional to exp(-|z|/scale), exactly (CKS Alg. 2).

    ``scale = t/s`` as a Fraction with ``t, s < 2^40``. O(1) expected words per draw for any scale.
    """
    f = as_rational(scale, name="scale")
    t, s = f.numerator, f.denominator
    if t >= 1 << 40 or s >= 1 << 40:
        raise DPError("scale numerator and denominator must be < 2^40")
    return _run(K.fill_discrete_laplace, size, rng, s, t, _VMAX)


def gaussian_params(sigma2: Fraction) -> tuple[int, int, int]:
    """(n, d, t) for sigma^2 = n/d and t = floor(sigma) + 1; DPError if 2 n d t^2 >= 2^62."""
    n, d = sigma2.numerator, sigma2.denominator
    t = math.isqrt(n // d) + 1
    if 2 * n * d * t * t >= _LIMIT or t * d * (_VMAX + 2) * t >= _LIMIT:
        raise DPError(
            "sigma^2 = n/d needs 2*n*d*(floor(sigma)+1)^2 < 2^62: use a smaller denominator "
            "(sigma2 as a float is limited to denominator 2^31 // sigma^2)"
        )
    return n, d, t


def _sigma2_rational(sigma2: Rational) -> Fraction:
    """sigma^2 as a Fraction: exact for ints and Fractions, a float rounded up by
    :func:`sigma2_at_least` (the largest denominator the kernel's bounds allow)."""
    if isinstance(sigma2, float):
        return sigma2_at_least(sigma2)
    return as_rational(sigma2, name="sigma2")


def sigma2_at_least(sigma2: Rational) -> Fraction:
    """The smallest multiple of 1/m that is >= ``sigma2``, m = max(1, 2^30 // sigma2): a rational
    the discrete Gaussian kernel accepts, within max(1, sigma2) 2^-30 above ``sigma2`` (a float
    counts at its exact binary value). Never less noise than asked for."""
    _check_rational(sigma2, "sigma2")
    return at_least(sigma2, max(1, int((1 << 30) // max(float(sigma2), 1.0))), "sigma2")


def discrete_gaussian(sigma2: Rational, size: int, *, rng: RandomSource | None = None) -> np.ndarray:
    """``size`` int64 draws from N_Z(0, sigma2), P(z) proportional to exp(-z^2/(2 sigma2)), exactly.

    CKS 2020 Algorithm 3 (rejection from a discrete Laplace of scale floor(sigma)+1). ``sigma2`` is a
    Fraction n/d with 2 n d (floor(sigma)+1)^2 < 2^62 (sigma up to ~3.9e4 with integer sigma^2); a
    float is rounded up to a multiple of 1/m, m = max(1, 2^30 // sigma2) (:func:`sigma2_at_least`).
    """
    n, d, t = gaussian_params(_sigma2_rational(sigma2))
    return _run(K.fill_discrete_gaussian, size, rng, n, d, t, _VMAX)


def _poisson_tables(lam: Rational, name: str) -> tuple:
    f = as_rational(lam, name=name)
    a, b = f.numerator, f.denominator
    if f >= 1 << 36 or b >= 1 << 20:
        raise DPError(f"{name} = a/b needs a/b < 2^36 and b < 2^20 (table size ~ 14 sqrt(a/b))")
    params, mid, right, left = _pf.tables(a, b)
    return a, b, (*params, mid, right, left)


def poisson(lam: Rational, size: int, *, rng: RandomSource | None = None) -> np.ndarray:
    """``size`` int64 draws from Poisson(lam), exactly for the rational ``lam`` (``_poisson``)."""
    a, b, params = _poisson_tables(lam, "lam")
    return _run(_pf.fill_skellam_fast, size, rng, *params, False,
                exact=lambda s: _px.poisson_one(s, a, b))


def skellam(mu: Rational, size: int, *, rng: RandomSource | None = None) -> np.ndarray:
    """``size`` draws of Poisson(mu) - Poisson(mu): symmetric Skellam, variance 2*mu, exact.

    Expected O(1) work per draw after an O(sqrt(mu)) table per ``mu`` (cached).
    """
    a, b, params = _poisson_tables(mu, "mu")
    return _run(_pf.fill_skellam_fast, size, rng, *params, True,
                exact=lambda s: _px.poisson_one(s, a, b) - _px.poisson_one(s, a, b))
