"""Weighted updates -> one integer vector in Z_{2^b}, and the decoded sum back (FedAvg's numerator
and denominator in one secure sum).

Each client sends ``encode((w_i / W) * u_i)`` followed by ``encode(w_i)``: ``W = max_weight`` is a
public bound on a client's weight (its example count), so ``(w_i / W) * u_i`` stays within the
update clip ``c`` and one encoder fits every summand. The weight coordinate has its own encoder
with an integer scale, so integer weights (example counts) sum exactly. The server decodes
``Σ (w_i/W) u_i`` and ``Σ w_i`` and divides; it never sees a single update or weight.

Quantization bound: stochastic rounding moves each summand by less than one step ``1/scale``,
so the decoded weighted sum is within ``n * W / scale`` of the exact one per coordinate, and the
weighted average within ``n * W / (scale * Σ w_i)`` (``n`` = survivors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from secagg.csprng import RandomSource
from secagg.encoding import FixedPointEncoder
from secagg.errors import EncodingError


class Codec(Protocol):
    """Turns one client's (update, weight) into integers mod 2^bits, and the sum of them back."""

    @property
    def bits(self) -> int: ...

    @property
    def length(self) -> int: ...

    def encode(self, update: np.ndarray, weight: float, rng: RandomSource | None = None
               ) -> np.ndarray: ...

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]: ...

    def mean_bound(self, count: int, total_weight: float) -> float: ...


@dataclass(frozen=True)
class WeightedEncoding:
    """The pair of encoders one round uses, chosen from (bits, clip, summands, max weight)."""

    update: FixedPointEncoder
    weight: FixedPointEncoder
    max_weight: float
    dimension: int

    @classmethod
    def fit(cls, *, dimension: int, bits: int, clip: float, max_summands: int,
            max_weight: float, noise_bound: float = 0.0) -> WeightedEncoding:
        """The largest safe scales for ``max_summands`` clients; ``EncodingError`` if none is."""
        update = FixedPointEncoder.fit(bits, clip, max_summands, noise_bound)
        probe = FixedPointEncoder.fit(bits, float(max_weight), max_summands)
        scale = float(max(1, math.floor(probe.scale)))  # integer scale: integer weights are exact
        weight = FixedPointEncoder(bits=bits, clip=float(max_weight), scale=scale,
                                   max_summands=max_summands)
        return cls(update, weight, float(max_weight), dimension)

    @property
    def bits(self) -> int:
        """Modulus bits b of the secure sum."""
        return self.update.bits

    @property
    def length(self) -> int:
        """Integers per client: the update's coordinates and the weight."""
        return self.dimension + 1

    def encode(self, update: np.ndarray, weight: float, rng: RandomSource | None = None) -> np.ndarray:
        """The client's integer vector: encoded ``(w/W) * update`` then encoded ``w`` (length m+1)."""
        if not 0 <= weight <= self.max_weight:
            raise EncodingError(f"weight must be in [0, max_weight={self.max_weight}], got {weight}")
        scaled = np.asarray(update, dtype=np.float64) * (weight / self.max_weight)
        head = self.update.encode(scaled, rng=rng)
        tail = self.weight.encode(np.array([float(weight)]), rng=rng)
        return np.concatenate([head, tail.astype(head.dtype)])

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(Σ w_i u_i, Σ w_i) from the sum of ``count`` encoded vectors."""
        weighted = self.update.decode_sum(total[:-1], count) * self.max_weight
        weight = float(self.weight.decode_sum(total[-1:], count)[0])
        return weighted, weight

    def sum_bound(self, count: int) -> float:
        """Max abs error of each coordinate of the decoded Σ w_i u_i (strictly below this)."""
        return count * self.max_weight / self.update.scale

    def mean_bound(self, count: int, total_weight: float) -> float:
        """Max abs error of each coordinate of the weighted average Σ w_i u_i / Σ w_i."""
        return self.sum_bound(count) / total_weight if total_weight > 0 else math.inf
