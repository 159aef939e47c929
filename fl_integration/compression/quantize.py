"""``Quantize``: rotate, then round every value stochastically to one of 2^q - 1 levels.

The client rotates its update with the round's block Hadamard rotation (public signs from the
round seed), weights it by w / max_weight as every codec does, clips each rotated value to
[-bound, bound] and rounds ``value * L / bound`` up or down at random (its own CSPRNG) to an
integer in [-L, L], L = 2^(q-1) - 1, so the expected
integer is exact: the quantizer is unbiased wherever the bound did not clip. The server learns
the sum of the rotated, quantized updates and nothing else: the sum of n values in [-L, L] fits
b = ⌊log2(n L)⌋ + 2 bits, which is what travels (q = 4, n = 25: 9 bits instead of 32).
The rotation spreads an update's energy over its coordinates, so a bound well below the L∞ clip
rarely clips (Hoeffding: a rotated value of a block of size B exceeds t with probability at most
2 exp(-t² B / (2 ||x_block||²))); each round reports the clients it clipped. With ``fraction``
< 1 every client keeps the same random share of the rotated values (the round seed picks them)
and the server scales their sum by the inverse share: still unbiased, and shorter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import packing
from ._checks import check_fraction, check_int, check_positive
from .rotation import BlockRotation
from .subsample import Selection, selection


@dataclass(frozen=True, eq=False)
class RotatedSelection:
    """Rotate, then keep the round's shared share of the rotated values."""

    rotation: BlockRotation
    selection: Selection

    @property
    def dimension(self) -> int:
        """Coordinates of the update."""
        return self.rotation.dimension

    @property
    def length(self) -> int:
        """Kept rotated values per client."""
        return self.selection.length

    @property
    def gain(self) -> float:
        """Worst-case factor from an error per kept value to an error per coordinate."""
        return self.rotation.gain * self.selection.gain

    def ranges(self) -> np.ndarray:
        """The bound on every kept rotated value."""
        return self.selection.ranges()

    def forward(self, v: np.ndarray) -> np.ndarray:
        """Rotate and keep (client side)."""
        return self.selection.forward(self.rotation.forward(v))

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Unbias and rotate back (server side, on the sum)."""
        return self.rotation.inverse(self.selection.inverse(z))

    def sent(self, z: np.ndarray) -> np.ndarray:
        """What one client's kept values stand for in the original coordinates."""
        return self.rotation.inverse(self.selection.sent(z))


@dataclass(frozen=True, kw_only=True)
class Quantize:
    """Unbiased q-bit stochastic quantization after a random rotation (no error feedback).

    ``bits`` (q, in [2, 16]): levels per value are 2^q - 1. ``bound``: the largest rotated value
    of a weighted update (w / max_weight) · u kept as is (None: the round's L∞ clip,
    ``FedAvgConfig.clip``, which never clips an unrotated value); a tighter bound means finer
    levels and, now and then, a clipped value. ``fraction`` (in (0, 1]): the share of rotated
    values every client sends (the same ones; the server unbiases the sum)."""

    bits: int = 4
    bound: float | None = None
    fraction: float = 1.0

    error_feedback = False

    def __post_init__(self) -> None:
        check_int("Quantize.bits", self.bits, 2, 16)
        check_positive("Quantize.bound", self.bound, optional=True)
        check_fraction("Quantize.fraction", self.fraction)

    @property
    def level_bits(self) -> int | None:
        """q: bits of one client's value."""
        return self.bits

    def transform(self, seed: bytes, dimension: int, clip: float
                  ) -> BlockRotation | RotatedSelection:
        """The round's rotation, and shared selection of rotated values (public)."""
        bound = self.bound if self.bound is not None else clip
        rotation = BlockRotation(dimension, bound, seed)
        if self.fraction == 1:
            return rotation
        return RotatedSelection(rotation, selection(seed, rotation.length, self.fraction, bound,
                                                    unbiased=True))

    def dp_transform(self, seed: bytes, dimension: int) -> Selection | None:
        """Under distributed DP the plan rotates; only the shared selection is ours."""
        if self.fraction == 1:
            return None
        return selection(seed, dimension, self.fraction, 1.0, unbiased=True)

    def sum_bits(self, n_clients: int) -> int:
        """Bits of the sum of ``n_clients`` quantized values."""
        return packing.level_width(n_clients, (1 << (self.bits - 1)) - 1)

    def label(self) -> str:
        """A short name for tables and plots."""
        bound = "" if self.bound is None else f", bound={self.bound:g}"
        frac = "" if self.fraction == 1 else f", fraction={self.fraction:g}"
        return f"Quantize(bits={self.bits}{bound}{frac})"
