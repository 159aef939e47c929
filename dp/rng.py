"""CSPRNG source for dp: AES-128-CTR keyed from ``os.urandom`` or from an explicit 32-byte seed.

dp depends on nothing else of ours, so it carries its own small source. It is structurally the
same as ``secagg.csprng.RandomSource`` (``token_bytes`` and ``fill``), so either can be passed.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol, runtime_checkable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_LABEL = b"secagg/v1/dp-csprng"
_BLOCK = 16


@runtime_checkable
class RandomSource(Protocol):
    """Anything that yields cryptographically strong bytes."""

    def token_bytes(self, n: int) -> bytes:
        """Return ``n`` random bytes."""
        ...

    def fill(self, out: np.ndarray) -> None:
        """Overwrite the bytes of a C-contiguous array with random bytes."""
        ...


class AesCtrSource:
    """AES-128-CTR keystream; key = SHA-256(label || seed)[:16], seed from ``os.urandom`` if None.

    An explicit 32-byte seed makes the stream reproducible (tests); the key is never printed.
    """

    __slots__ = ("_enc",)

    def __init__(self, seed: bytes | None = None) -> None:
        if seed is None:
            seed = os.urandom(32)
        if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
            raise ValueError("seed must be exactly 32 bytes")
        key = hashlib.sha256(_LABEL + bytes(seed)).digest()[:16]
        self._enc = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * _BLOCK)).encryptor()

    def token_bytes(self, n: int) -> bytes:
        """``n`` keystream bytes."""
        return self._enc.update(b"\x00" * n)

    def fill(self, out: np.ndarray) -> None:
        """Overwrite ``out`` in place with keystream (``update_into``, no extra copies of note)."""
        if not out.flags.c_contiguous:
            raise ValueError("fill() needs a C-contiguous array")
        view = out.reshape(-1).view(np.uint8)
        n = view.size
        if n == 0:
            return
        buf = bytearray(n + _BLOCK - 1)
        self._enc.update_into(memoryview(bytes(n)), buf)
        view[:] = np.frombuffer(buf, dtype=np.uint8, count=n)

    def __repr__(self) -> str:
        return "AesCtrSource(<keyed>)"

    def __reduce__(self):
        raise TypeError("random sources hold secret state and cannot be pickled")


def resolve(rng: RandomSource | None) -> RandomSource:
    """Return ``rng``, or a fresh AES-CTR source keyed from ``os.urandom`` when ``None``."""
    return AesCtrSource() if rng is None else rng


def uniform01(rng: RandomSource, size: int) -> np.ndarray:
    """Floats in [0, 1) from 53 CSPRNG bits each (only for the opt-in float path and RR)."""
    words = np.empty(size, dtype=np.uint64)
    rng.fill(words)
    return (words >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def randbelow(rng: RandomSource, bound: int) -> int:
    """A uniform integer in ``[0, bound)`` by rejection (no modulo bias)."""
    if bound <= 0:
        raise ValueError("bound must be positive")
    nbits = bound.bit_length()
    nbytes = (nbits + 7) // 8
    while True:
        x = int.from_bytes(rng.token_bytes(nbytes), "big") >> (nbytes * 8 - nbits)
        if x < bound:
            return x


def integers_below(rng: RandomSource, bound: int, size: int) -> np.ndarray:
    """``size`` uniform int64 in ``[0, bound)``, ``1 <= bound <= 2^62``, by masked rejection."""
    if not 1 <= bound <= 1 << 62:
        raise ValueError("bound must be in [1, 2^62]")
    mask = np.uint64((1 << max(1, (bound - 1).bit_length())) - 1)
    out = np.empty(size, dtype=np.int64)
    filled = 0
    while filled < size:
        words = np.empty(2 * (size - filled) + 8, dtype=np.uint64)
        rng.fill(words)
        cand = (words & mask).astype(np.int64)
        cand = cand[cand < bound][: size - filled]
        out[filled : filled + cand.size] = cand
        filled += cand.size
    return out
