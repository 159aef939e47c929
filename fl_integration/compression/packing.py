"""Narrow values packed several to a word, so the masked vector costs exactly their width.

The protocols sum words mod 2^b with b >= 8 (LightSecAgg's field always carries 31 bits), but a
vote needs ⌈log2(n+1)⌉ + 1 bits. So a codec that needs s-bit sums puts k = ⌊word / s⌋ of them in
one b = k·s bit word: word = Σ_j x_j 2^(s·j) mod 2^b. Sums of words are words of sums, and as
long as every slot's sum over the clients lies in [-2^(s-1), 2^(s-1)) the server peels the slots
off exactly, lowest first, each read as a signed s-bit value and subtracted before the shift.
The widths below are what makes that hold for n clients: they are the no-wrap law.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from secagg.errors import ConfigError, EncodingError
from secagg.prg import dtype_for_bits


def level_width(n_clients: int, levels: int) -> int:
    """Bits s for sums of ``n_clients`` values in [-levels, levels]: n·L <= 2^(s-1) - 1."""
    return (n_clients * levels).bit_length() + 1


def vote_width(n_clients: int) -> int:
    """Bits for sums of ``n_clients`` votes in {-1, 0, 1}: ⌈log2(n+1)⌉ + 1."""
    return level_width(n_clients, 1)


def digit_bits(n_clients: int, width: int) -> int:
    """The widest base-2^h digit (in [0, 2^h)) whose sum over ``n_clients`` fits ``width``."""
    room = (1 << (width - 1)) - 1
    h = 0
    while n_clients * ((1 << (h + 1)) - 1) <= room:
        h += 1
    return h


@dataclass(frozen=True)
class SlotPacking:
    """``slots`` signed values of ``width`` bits, ``per_word`` to a word of ``bits`` bits."""

    width: int
    per_word: int
    slots: int

    @classmethod
    def fit(cls, width: int, slots: int, max_word: int) -> SlotPacking:
        """As many slots per word as ``max_word`` bits hold; ``ConfigError`` if not even one."""
        if width > max_word:
            raise ConfigError(f"these sums need {width} bits per value and the aggregation "
                              f"carries at most {max_word}: use fewer bits or fewer clients")
        return cls(width, max_word // width, slots)

    @property
    def bits(self) -> int:
        """Word width b (the modulus of the secure sum)."""
        return self.width * self.per_word

    @property
    def length(self) -> int:
        """Words per client."""
        return -(-self.slots // self.per_word)

    def pack(self, values: np.ndarray) -> np.ndarray:
        """One client's signed slot values -> words in [0, 2^bits); refuses a value that would
        not fit its slot (an encoder bug, never data)."""
        v = np.asarray(values, dtype=np.int64)
        half = 1 << (self.width - 1)
        if v.shape != (self.slots,) or (v.size and (v.min() < -half or v.max() >= half)):
            raise EncodingError(f"slot values must be {self.slots} ints in [-2^{self.width - 1}, "
                                f"2^{self.width - 1})")
        grid = np.zeros(self.length * self.per_word, dtype=np.int64)
        grid[: self.slots] = v
        shifts = np.arange(self.per_word, dtype=np.int64) * self.width
        words = (grid.reshape(self.length, self.per_word) << shifts).sum(axis=1)
        return (words & ((1 << self.bits) - 1)).astype(dtype_for_bits(max(8, self.bits)))

    def unpack(self, total: np.ndarray) -> np.ndarray:
        """The slot sums (signed int64) from the sum of words mod 2^B, for any B >= bits."""
        mask = (1 << self.bits) - 1
        words = np.asarray(total).astype(np.uint64) & np.uint64(mask)
        rest = words.astype(np.int64)
        out = np.empty((self.length, self.per_word), dtype=np.int64)
        low_mask, half = (1 << self.width) - 1, 1 << (self.width - 1)
        for j in range(self.per_word):
            low = rest & low_mask
            slot = np.where(low >= half, low - (1 << self.width), low)
            out[:, j] = slot
            rest = ((rest - slot) & mask) >> self.width
        return out.reshape(-1)[: self.slots]
