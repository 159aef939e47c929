"""Slot packing for Paillier: many signed values per plaintext, with headroom for n additions.

Layout (offset binary): a signed value x in [-2^(v-1), 2^(v-1)) is stored as u = x + 2^(v-1) in
[0, 2^v), in a slot of w = v + ceil(log2 n) bits; slot j of a plaintext holds bits [j*w, (j+1)*w).
The sum of n such slots is at most n*(2^v - 1) < 2^w, so slots never carry into each other, and a
plaintext of s = floor((key_bits - 1) / w) slots stays below 2^(key_bits-1) <= N (the modulus has
exactly key_bits bits), so the homomorphic sum never wraps mod N. After decryption each slot sum
minus count*2^(v-1) is the exact signed sum. The sign bit that two's complement per slot would
need is not needed: the bias makes every slot non-negative. Unused slots of the last plaintext
hold 0 (no bias), so a decrypted sum whose padding is not 0 is known to be garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from secagg import bitpack
from secagg.errors import EncodingError, MalformedMessage, ProtocolViolation

MIN_VALUE_BITS, MAX_VALUE_BITS = 8, 62
MAX_SLOT_BITS = 63  # slot sums and signed sums fit int64 / uint64


@dataclass(frozen=True, slots=True)
class SlotLayout:
    """How a vector of ``value_bits``-bit signed values is spread over Paillier plaintexts."""

    value_bits: int
    slot_bits: int
    slots: int
    max_summands: int

    @classmethod
    def for_params(cls, *, key_bits: int, value_bits: int, max_summands: int) -> SlotLayout:
        """The densest layout that cannot overflow; EncodingError naming what to change."""
        if not MIN_VALUE_BITS <= value_bits <= MAX_VALUE_BITS:
            raise EncodingError(
                f"value_bits must be in [{MIN_VALUE_BITS}, {MAX_VALUE_BITS}], got {value_bits}"
            )
        if max_summands < 1:
            raise EncodingError(f"max_summands must be >= 1, got {max_summands}")
        slot_bits = value_bits + (max_summands - 1).bit_length()  # v + ceil(log2 n)
        if slot_bits > MAX_SLOT_BITS:
            raise EncodingError(
                f"a slot of {slot_bits} bits (value_bits {value_bits} + ceil(log2 "
                f"{max_summands} clients)) exceeds {MAX_SLOT_BITS}: lower value_bits or clients"
            )
        slots = (key_bits - 1) // slot_bits
        if slots < 1:
            raise EncodingError(f"key_bits {key_bits} cannot hold one {slot_bits}-bit slot")
        return cls(value_bits, slot_bits, slots, max_summands)

    @property
    def bias(self) -> int:
        """2^(v-1): added to every value so slots hold non-negative integers."""
        return 1 << (self.value_bits - 1)

    def num_plaintexts(self, length: int) -> int:
        """Plaintexts (so ciphertexts) for a vector of ``length`` values."""
        return -(-length // self.slots)

    def check_values(self, values: np.ndarray, length: int) -> np.ndarray:
        """A 1-D integer vector of ``length`` values in [-2^(v-1), 2^(v-1)), as int64."""
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != length:
            raise EncodingError(f"vector must be 1-D of length {length}, got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise EncodingError(f"vector must hold integers, got dtype {arr.dtype}")
        if arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < -self.bias or hi >= self.bias:
                raise EncodingError(
                    f"values must lie in [-2^{self.value_bits - 1}, 2^{self.value_bits - 1}), "
                    f"got [{lo}, {hi}]: raise value_bits or scale the input down"
                )
        return arr.astype(np.int64, copy=False)

    def pack(self, values: np.ndarray) -> list[int]:
        """Plaintext integers holding the biased values, ``slots`` per plaintext, slot 0 lowest."""
        biased = (values.astype(np.int64) + self.bias).astype(np.uint64)
        return [
            int.from_bytes(bitpack.pack_bits(biased[i : i + self.slots], self.slot_bits), "little")
            for i in range(0, biased.shape[0], self.slots)
        ]

    def unpack_sum(self, plaintexts: list[int], length: int, count: int) -> np.ndarray:
        """Signed sums (int64) of ``count`` packed vectors; ProtocolViolation if not a valid sum."""
        if not 1 <= count <= self.max_summands:
            raise ProtocolViolation(f"sum of {count} vectors; the layout allows 1..{self.max_summands}")
        if len(plaintexts) != self.num_plaintexts(length):
            raise ProtocolViolation("wrong number of plaintexts for the vector length")
        out = np.empty(length, dtype=np.int64)
        for k, plain in enumerate(plaintexts):
            start = k * self.slots
            used = min(self.slots, length - start)
            out[start : start + used] = self._slots_of(plain, used).astype(np.int64)
        limit = count * ((1 << self.value_bits) - 1)
        if length and int(out.max()) > limit:
            raise ProtocolViolation("a slot sum exceeds what the clients can have sent")
        out -= count * self.bias
        return out

    def _slots_of(self, plain: int, used: int) -> np.ndarray:
        size = bitpack.packed_size(used, self.slot_bits)
        try:
            raw = plain.to_bytes(size, "little")
            return bitpack.unpack_bits(raw, self.slot_bits, used)
        except (OverflowError, MalformedMessage):
            raise ProtocolViolation(
                "decrypted plaintext has bits outside its slots: a ciphertext was tampered with "
                "or encrypted under another key"
            ) from None
