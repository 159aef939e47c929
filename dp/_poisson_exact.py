"""Exact Poisson(a/b) in pure Python (big-int rationals): the specification of the fast kernel
in ``_poisson.py`` and its fallback when float bounds cannot certify a decision.

Algorithm (rejection from an envelope around the mode m, all decisions on real uniforms):
  u ~ U{0..total-1} picks the middle window z in [-left, w] (weight 1 each) or a tail;
  a tail offset D >= 1 has P(D = d) = (1 - rho) rho^(d-1), rho = (L-1)/L, drawn by inversion of a
  uniform U (D = d iff rho^d <= U < rho^(d-1)); the candidate m + z is accepted iff V < h(z)/E(z)
  for a uniform V, where h(z) = P(m+z)/P(m) and E is the envelope (1 in the middle, rho^D in the
  tails), a product of rationals <= 1. U and V are 53-bit prefixes extended lazily, so the
  comparisons are exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .rng import RandomSource


class Stream:
    """The kernels' bit reservoir over ``words[pos:]``, then fresh words from ``source``."""

    def __init__(self, words: np.ndarray, pos: int, res: int, left: int,
                 source: RandomSource | None = None) -> None:
        self.words, self.pos, self.res, self.left = words, pos, res, left
        self.source = source
        self.extra: list[int] = []  # words drawn past the end of ``words``

    def _word(self) -> int:
        if self.pos < self.words.size:
            w = int(self.words[self.pos])
        else:
            if self.source is None:
                raise IndexError("stream exhausted")
            w = int.from_bytes(self.source.token_bytes(8), "little")
            self.extra.append(w)
        self.pos += 1
        return w

    def bits(self, k: int) -> int:
        if self.left < k:
            self.res, self.left = self._word(), 64
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


class LazyUniform:
    """A uniform real in [0, 1): 53 bits now, more on demand for exact comparisons."""

    def __init__(self, stream: Stream) -> None:
        self.stream, self.num, self.nbits = stream, stream.bits(53), 53

    def less(self, x: Fraction) -> bool:
        """Exactly whether U < x."""
        while True:
            scale = 1 << self.nbits
            if (self.num + 1) * x.denominator <= x.numerator * scale:
                return True
            if self.num * x.denominator >= x.numerator * scale:
                return False
            self.num = (self.num << 53) | self.stream.bits(53)
            self.nbits += 53


def envelope(a: int, b: int) -> tuple[int, int, int, int, int, int]:
    """(m, w, left, lp, lm, total): mode, half-width, left width, tail sizes, total weight."""
    m = a // b
    w = math.isqrt(m) + 1
    left = min(w, m)
    j0 = m + w + 1
    lp = -(-(b * j0) // (b * j0 - a))
    lm = -(-a // (a - b * (m - w))) if m > w else 2
    total = (w + left + 1) + (lp - 1) + (lm - 1 if m > w else 0)
    return m, w, left, lp, lm, total


def _geometric(u: LazyUniform, big_l: int) -> int:
    """D >= 1 with rho^D <= U < rho^(D-1), rho = (L-1)/L."""
    rho = Fraction(big_l - 1, big_l)
    guess = 1 + int(math.log((u.num + 0.5) / 2.0**53) / math.log1p(-1 / big_l))
    d = max(1, guess)
    while u.less(rho**d):
        d += 1
    while d > 1 and not u.less(rho ** (d - 1)):
        d -= 1
    return d


def _prod(lo: int, hi: int) -> int:
    return math.prod(range(lo, hi + 1)) if hi >= lo else 1


def acceptance(a: int, b: int, z: int, tail: int, big_l: int) -> Fraction:
    """h(z)/E(z) exactly; ``tail`` is 0 (middle), +1 (right, z = w + D) or -1 (left)."""
    m, w = a // b, math.isqrt(a // b) + 1
    if m + z < 0:
        return Fraction(0)
    if z >= 0:
        h = Fraction(a**z, b**z * _prod(m + 1, m + z))
    else:
        h = Fraction(b ** (-z) * _prod(m + z + 1, m), a ** (-z))
    if tail == 0:
        return h
    d = abs(z) - w
    return h / Fraction(big_l - 1, big_l) ** d


def poisson_one(stream: Stream, a: int, b: int) -> int:
    """One exact Poisson(a/b) draw from ``stream`` (same bit use as the kernel when it decides)."""
    m, w, left, lp, lm, total = envelope(a, b)
    mid = w + left + 1
    while True:
        u = stream.below(total)
        if u < mid:
            z, tail, big_l = u - left, 0, 0
        elif u < mid + lp - 1:
            big_l, tail = lp, 1
            z = w + _geometric(LazyUniform(stream), lp)
        else:
            big_l, tail = lm, -1
            z = -w - _geometric(LazyUniform(stream), lm)
        v = LazyUniform(stream)
        if v.less(acceptance(a, b, z, tail, big_l)):
            return m + z
