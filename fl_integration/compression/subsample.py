"""``Subsample``: every client of a round keeps the same pseudo-random coordinates.

The round seed picks k = ⌈fraction · d⌉ coordinates, the same for every client, so the masked
vectors are k long and the masks still cancel. The server learns the sum of the clients' values
on those k coordinates and nothing about the others. Without error feedback it scales the sum by
d/k: every coordinate is kept with probability k/d, so the estimate is unbiased. With error
feedback each client adds what it did not send to its next update (its residual, kept on the
client), and the server does not rescale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import packing, seeds
from ._checks import check_bits, check_flag, check_fraction


@dataclass(frozen=True, eq=False)
class Selection:
    """The round's shared coordinates; ``scale`` is what the server multiplies the sum by."""

    dimension: int
    indices: np.ndarray
    scale: float
    bound: float

    @property
    def length(self) -> int:
        """Kept coordinates per client."""
        return int(self.indices.size)

    @property
    def gain(self) -> float:
        """Worst-case factor from an error per kept value to an error per coordinate."""
        return self.scale

    def ranges(self) -> np.ndarray:
        """The bound on every kept value (the update's L∞ clip)."""
        return np.full(self.length, float(self.bound))

    def forward(self, v: np.ndarray) -> np.ndarray:
        """The kept coordinates (client side)."""
        return np.asarray(v, dtype=np.float64)[self.indices]

    def sent(self, z: np.ndarray) -> np.ndarray:
        """Kept values back in place, zeros elsewhere: what one client contributed."""
        out = np.zeros(self.dimension)
        out[self.indices] = z
        return out

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """The server's estimate from the sum of kept values."""
        return self.sent(z) * self.scale


def selection(seed: bytes, dimension: int, fraction: float, bound: float, *,
              unbiased: bool) -> Selection:
    """The round's selection of ⌈fraction · dimension⌉ coordinates."""
    k = max(1, min(dimension, int(np.ceil(fraction * dimension))))
    indices = np.arange(dimension) if k == dimension else seeds.subset(seed, dimension, k)
    return Selection(dimension, indices, dimension / k if unbiased else 1.0, bound)


@dataclass(frozen=True, kw_only=True)
class Subsample:
    """Shared random subsampling of ``fraction`` of the coordinates (in (0, 1]).

    ``bits``: None keeps the kept values at full fixed-point precision (``FedAvgConfig.bits``);
    2..16 also quantizes them like :class:`Quantize` (no rotation: the L∞ clip bounds every value
    exactly, so nothing is clipped). ``error_feedback``: carry the unsent coordinates to the
    client's next round instead of unbiasing the sum."""

    fraction: float
    bits: int | None = None
    error_feedback: bool = False

    def __post_init__(self) -> None:
        check_fraction("Subsample.fraction", self.fraction)
        check_bits("Subsample.bits", self.bits)
        check_flag("Subsample.error_feedback", self.error_feedback)

    @property
    def level_bits(self) -> int | None:
        """q, or None for fixed-point."""
        return self.bits

    def transform(self, seed: bytes, dimension: int, clip: float) -> Selection:
        """The round's shared coordinates (public)."""
        return selection(seed, dimension, self.fraction, clip, unbiased=not self.error_feedback)

    def sum_bits(self, n_clients: int) -> int | None:
        """Bits of the sum of ``n_clients`` quantized values (None: fixed-point)."""
        return None if self.bits is None else packing.level_width(n_clients, (1 << (self.bits - 1)) - 1)

    def compact_sent(self, z: np.ndarray, clip: float) -> np.ndarray:
        """The kept values as they will be sent (clipped), for the client's residual."""
        return np.clip(z, -clip, clip)

    def residual_bound(self, clip: float) -> float:
        """The residual is kept within ±clip per coordinate."""
        return clip

    def label(self) -> str:
        """A short name for tables and plots."""
        bits = "" if self.bits is None else f", bits={self.bits}"
        ef = ", EF" if self.error_feedback else ""
        return f"Subsample({self.fraction:g}{bits}{ef})"
