"""Block randomized Hadamard rotation: ``dp.rotation`` on power-of-two blocks, so a vector of d
values costs fewer than d + 64 rotated ones (not the next power of two: 650 -> 704, not 1024).

The vector is padded to a multiple of 64 and cut into the powers of two of that length's binary
form (704 = 512 + 128 + 64); each block is rotated with its own signs from the round seed. Each
block is orthonormal, so the whole map is, and its inverse is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dp import rotation

from . import seeds

MIN_BLOCK = 64


def block_sizes(dimension: int) -> tuple[int, ...]:
    """Power-of-two blocks covering ``dimension`` with fewer than ``MIN_BLOCK`` padding values."""
    if dimension <= MIN_BLOCK:
        return (rotation.padded_dimension(dimension),)
    total = -(-dimension // MIN_BLOCK) * MIN_BLOCK
    return tuple(1 << k for k in reversed(range(total.bit_length())) if total >> k & 1)


@dataclass(frozen=True, eq=False)
class BlockRotation:
    """The round's rotation of ``dimension`` values; every rotated value is bounded by
    ``bound`` (values beyond are clipped by the encoder, and counted by the FL layer)."""

    dimension: int
    bound: float
    seed: bytes = field(repr=False)

    @cached_property
    def _blocks(self) -> tuple[tuple[int, bytes], ...]:
        sizes = block_sizes(self.dimension)
        return tuple((size, seeds.derive(self.seed, seeds.ROTATION, i, self.dimension))
                     for i, size in enumerate(sizes))

    @property
    def length(self) -> int:
        """Rotated values per client."""
        return sum(size for size, _ in self._blocks)

    @property
    def gain(self) -> float:
        """Worst-case factor from an error per rotated value to an error per original one."""
        return float(np.sqrt(max(size for size, _ in self._blocks)))

    def ranges(self) -> np.ndarray:
        """The bound on every rotated value."""
        return np.full(self.length, float(self.bound))

    def forward(self, v: np.ndarray) -> np.ndarray:
        """Rotate (client side)."""
        padded = np.zeros(self.length)
        padded[: self.dimension] = v
        return np.concatenate([rotation.rotate(part, key) for part, (_, key)
                               in zip(self._split(padded), self._blocks, strict=True)])

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Rotate back (server side, on the sum)."""
        parts = [rotation.unrotate(part, key, size) for part, (size, key)
                 in zip(self._split(np.asarray(z, dtype=np.float64)), self._blocks, strict=True)]
        return np.concatenate(parts)[: self.dimension]

    def sent(self, z: np.ndarray) -> np.ndarray:
        """What a client's rotated values ``z`` stand for in the original coordinates."""
        return self.inverse(z)

    def _split(self, x: np.ndarray) -> list[np.ndarray]:
        cuts = np.cumsum([size for size, _ in self._blocks])[:-1]
        return np.split(x, cuts)
