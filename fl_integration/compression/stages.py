"""The integer half of a compressed codec: compact real values -> integers a secure sum adds.

- :class:`LevelStage`: q-bit unbiased stochastic rounding against each value's bound, and the
  client's weight in base-2^h digits, all packed at the no-wrap width (:mod:`.packing`).
- :class:`VoteStage`: signs, packed at ⌈log2(n+1)⌉ + 1 bits; unweighted.
- :class:`NoisyStage`: the distributed-DP plan of ``dp`` on the compact vector (L2 clip,
  rotation, conditional rounding, discrete noise), packed at the plan's width.
- :class:`FixedStage`: full fixed-point precision, :class:`~fl_integration.quantization.
  WeightedEncoding` itself (b = ``FedAvgConfig.bits``).
Each ``decode`` returns (Σ w_i z_i, Σ w_i) in compact coordinates (weights are 1 for votes and
under DP, so the second value is the count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

import dp
from fl_integration.quantization import WeightedEncoding
from secagg.csprng import RandomSource
from secagg.encoding import stochastic_round
from secagg.errors import ConfigError, EncodingError

from .packing import SlotPacking, digit_bits, level_width, vote_width

if TYPE_CHECKING:
    from fl_integration.privacy import DistributedDP


class _Packed:
    """Width and length come from the stage's packing."""

    packing: SlotPacking

    @property
    def bits(self) -> int:
        """Word bits."""
        return self.packing.bits

    @property
    def length(self) -> int:
        """Words per client."""
        return self.packing.length


def _check_count(count: int, n_clients: int) -> None:
    if not 1 <= count <= n_clients:
        raise EncodingError(f"count must be in [1, {n_clients}] (the clients the codec was "
                            f"fitted for), got {count}")


@dataclass(frozen=True, eq=False)
class LevelStage(_Packed):
    """Values in [-ranges, ranges] (clipped before) on 2L + 1 levels, weights in digits."""

    ranges: np.ndarray
    levels: int
    max_weight: float
    n_clients: int
    packing: SlotPacking
    digit: int  # bits h per weight digit
    digits: int

    @classmethod
    def fit(cls, ranges: np.ndarray, level_bits: int, *, n_clients: int, max_weight: float,
            max_word: int) -> LevelStage:
        """The stage for ``n_clients``: slot width ⌊log2(n L)⌋ + 2, as many weight digits as
        ⌈max_weight⌉ needs."""
        levels = (1 << (level_bits - 1)) - 1
        width = level_width(n_clients, levels)
        h = digit_bits(n_clients, width)
        digits = -(-max(1, math.ceil(max_weight).bit_length()) // h)
        packing = SlotPacking.fit(width, ranges.size + digits, max_word)
        return cls(ranges, levels, float(max_weight), n_clients, packing, h, digits)

    def encode(self, z: np.ndarray, weight: float, rng: RandomSource | None) -> np.ndarray:
        """``(w/W) z`` on the levels and ``w`` in digits, both rounded without bias."""
        if not 0 <= weight <= self.max_weight:
            raise EncodingError(f"weight must be in [0, max_weight={self.max_weight}], got {weight}")
        x = np.clip(z * (weight / self.max_weight) * self.levels / self.ranges,
                    -self.levels, self.levels)
        ints = stochastic_round(x, rng)
        w = int(stochastic_round(np.array([float(weight)]), rng)[0])
        base = 1 << self.digit
        digits = [(w >> (self.digit * j)) % base for j in range(self.digits)]
        return self.packing.pack(np.concatenate([ints, np.array(digits, dtype=np.int64)]))

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(Σ w z, Σ w) from the sum of words."""
        _check_count(count, self.n_clients)
        sums = self.packing.unpack(total)
        m = self.ranges.size
        vec = sums[:m] * (self.ranges / self.levels) * self.max_weight
        weight = sum(int(s) << (self.digit * j) for j, s in enumerate(sums[m:]))
        return vec, float(weight)

    def error(self, count: int) -> float:
        """Max abs rounding error of one compact value of Σ w z (below this)."""
        return count * self.max_weight * float(self.ranges.max()) / self.levels


@dataclass(frozen=True, eq=False)
class VoteStage(_Packed):
    """Signs of the compact values; the sum is the vote count, times ``step`` on decoding."""

    step: float
    n_clients: int
    packing: SlotPacking

    @classmethod
    def fit(cls, length: int, step: float, *, n_clients: int, max_word: int) -> VoteStage:
        """Votes of ``n_clients`` at ⌈log2(n+1)⌉ + 1 bits."""
        return cls(step, n_clients, SlotPacking.fit(vote_width(n_clients), length, max_word))

    def encode(self, z: np.ndarray, weight: float, rng: RandomSource | None) -> np.ndarray:
        """sign(z) in {-1, 0, 1}; the weight is not sent (one client, one vote)."""
        del weight, rng
        return self.packing.pack(np.sign(z).astype(np.int64))

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(step · vote counts, number of voters)."""
        _check_count(count, self.n_clients)
        return self.packing.unpack(total) * self.step, float(count)

    def error(self, count: int) -> float:
        """Vote counts are exact."""
        return 0.0


@dataclass(frozen=True, eq=False)
class NoisyStage(_Packed):
    """``dp.plan_distributed`` on the compact vector, at the plan's width or a given one."""

    plan: dp.DistributedPlan
    packing: SlotPacking
    rotation_seed: bytes = field(repr=False)
    colluders: int | None = None

    @classmethod
    def fit(cls, length: int, config: DistributedDP, *, n_clients: int, n_min: int,
            bits: int | None, max_word: int, rotation_seed: bytes, colluders: int | None
            ) -> NoisyStage:
        """The DP plan for ``n_clients`` with ``n_min`` honest noise shares; ``bits`` None lets
        the planner choose the width (at least 2: packing lifts secagg's 8-bit floor)."""
        plan = dp.plan_distributed(
            dimension=length, l2_clip=config.l2_clip, noise_multiplier=config.noise_multiplier,
            n_clients=n_clients, n_min=n_min, mechanism=config.mechanism, bits=bits,
            rotate=config.rotate, min_bits=2)
        packing = SlotPacking.fit(plan.bits, plan.length, max_word)
        return cls(plan, packing, rotation_seed, colluders)

    def encode(self, z: np.ndarray, weight: float, rng: RandomSource | None) -> np.ndarray:
        """Clip (L2), rotate, round, add this client's noise share; weight 1 under DP."""
        del weight
        ints = dp.encode_client(z, self.plan, rotation_seed=self.rotation_seed, rng=rng)
        return self.packing.pack(ints)

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(noisy Σ clipped z, count)."""
        _check_count(count, self.plan.n_clients)
        sums = self.packing.unpack(total)
        return dp.decode_sum(sums, self.plan, rotation_seed=self.rotation_seed), float(count)

    def error(self, count: int) -> float:
        """Rounding error of one value of the sum (< 1 integer unit per client); noise apart."""
        return count / self.plan.scale


@dataclass(frozen=True, eq=False)
class FixedStage:
    """Full fixed-point precision at ``bits``: the uncompressed codec on the compact vector."""

    encoding: WeightedEncoding

    @classmethod
    def fit(cls, length: int, bound: float, *, bits: int, n_clients: int, max_weight: float
            ) -> FixedStage:
        """The largest safe scale for ``n_clients`` values bounded by ``bound``; a width that
        holds no scale (the weights alone overflow it) is a ``ConfigError``."""
        try:
            return cls(WeightedEncoding.fit(dimension=length, bits=bits, clip=bound,
                                            max_summands=n_clients, max_weight=max_weight))
        except EncodingError as exc:
            raise ConfigError(f"bits={bits} cannot hold the sum of {n_clients} clients' values "
                              f"and weights: {exc}") from None

    @property
    def bits(self) -> int:
        """Modulus bits."""
        return self.encoding.bits

    @property
    def length(self) -> int:
        """Values per client (the weight included)."""
        return self.encoding.length

    def encode(self, z: np.ndarray, weight: float, rng: RandomSource | None) -> np.ndarray:
        """Fixed-point ``(w/W) z`` and ``w``."""
        return self.encoding.encode(z, weight, rng)

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(Σ w z, Σ w)."""
        return self.encoding.decode(total, count)

    def error(self, count: int) -> float:
        """Max abs rounding error of one value of Σ w z."""
        return self.encoding.sum_bound(count)
