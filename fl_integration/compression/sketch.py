"""``CountSketch``: a linear sketch, so the sum of the clients' sketches is the sketch of the sum.

Row j of the round's sketch sends coordinate i to bucket h_j(i) with sign s_j(i) (both from the
round seed); a client's sketch row is Σ_i s_j(i) x_i in bucket h_j(i), scaled by 1/√depth. The
server learns the sum of the sketches (width · depth values) and estimates each coordinate as
the mean over rows of s_j(i) · bucket · √depth: unbiased, since colliding coordinates enter with
independent signs. Each bucket's bound is its public coordinate count times the L∞ clip, so
quantizing a sketch never clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import packing, seeds
from ._checks import check_bits, check_int


@dataclass(frozen=True, eq=False)
class Sketch:
    """The round's count sketch of ``dimension`` coordinates."""

    dimension: int
    width: int
    depth: int
    bound: float
    seed: bytes = field(repr=False)

    @cached_property
    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        pairs = [seeds.buckets(self.seed, j, self.dimension, self.width) for j in range(self.depth)]
        offsets = np.arange(self.depth)[:, None] * self.width
        return np.stack([b for b, _ in pairs]) + offsets, np.stack([s for _, s in pairs])

    @property
    def length(self) -> int:
        """Buckets per client."""
        return self.width * self.depth

    @property
    def gain(self) -> float:
        """Worst-case factor from an error per bucket to an error per coordinate."""
        return math.sqrt(self.depth)

    def ranges(self) -> np.ndarray:
        """Each bucket's exact bound: its coordinate count times the clip, over √depth."""
        where, _ = self._rows
        counts = np.bincount(where.ravel(), minlength=self.length).astype(np.float64)
        return np.maximum(counts, 1.0) * self.bound / math.sqrt(self.depth)

    def forward(self, v: np.ndarray) -> np.ndarray:
        """One client's sketch."""
        where, signs = self._rows
        vals = (signs * np.asarray(v, dtype=np.float64)[None, :]).ravel()
        return np.bincount(where.ravel(), weights=vals, minlength=self.length) / math.sqrt(self.depth)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """The server's estimate of every coordinate from the summed sketch."""
        where, signs = self._rows
        return (signs * np.asarray(z, dtype=np.float64)[where]).mean(axis=0) * math.sqrt(self.depth)


@dataclass(frozen=True, kw_only=True)
class CountSketch:
    """A count sketch of ``width`` buckets per row and ``depth`` rows (no error feedback).

    ``bits``: None sends buckets at full fixed-point precision; 2..16 quantizes them like
    :class:`Quantize` against each bucket's exact bound."""

    width: int
    depth: int = 1
    bits: int | None = None

    error_feedback = False

    def __post_init__(self) -> None:
        check_int("CountSketch.width", self.width, 1, 1 << 30)
        check_int("CountSketch.depth", self.depth, 1, 32)
        check_bits("CountSketch.bits", self.bits)

    @property
    def level_bits(self) -> int | None:
        """q, or None for fixed-point."""
        return self.bits

    def transform(self, seed: bytes, dimension: int, clip: float) -> Sketch:
        """The round's sketch (public hashes)."""
        return Sketch(dimension, self.width, self.depth, clip, seed)

    def sum_bits(self, n_clients: int) -> int | None:
        """Bits of the sum of ``n_clients`` quantized buckets (None: fixed-point)."""
        return None if self.bits is None else packing.level_width(n_clients, (1 << (self.bits - 1)) - 1)

    def label(self) -> str:
        """A short name for tables and plots."""
        bits = "" if self.bits is None else f", bits={self.bits}"
        return f"CountSketch({self.width}x{self.depth}{bits})"
