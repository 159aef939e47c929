"""Randomness sources. Production draws from the OS CSPRNG; tests pass a seeded AES-CTR source.

Every function in the library that needs randomness takes ``rng: RandomSource | None``; ``None``
means :func:`default_source`, which is keyed from ``os.urandom``. A seeded :class:`AesCtrRandom`
is a CSPRNG too, so deterministic tests never need a weaker generator.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 16
_FIXED_SESSION = b"secagg/csprng/v1"  # 16 bytes: the source is not bound to a protocol session


@runtime_checkable
class RandomSource(Protocol):
    """Anything that yields cryptographically strong bytes."""

    def token_bytes(self, n: int) -> bytes:
        """Return ``n`` random bytes."""
        ...

    def fill(self, out: np.ndarray) -> None:
        """Overwrite the bytes of a C-contiguous array with random bytes."""
        ...


class OsRandom:
    """``os.urandom``: the operating system's CSPRNG."""

    def token_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def fill(self, out: np.ndarray) -> None:
        view = _byte_view(out)
        view[:] = np.frombuffer(os.urandom(view.size), dtype=np.uint8)

    def __repr__(self) -> str:
        return "OsRandom()"


class AesCtrRandom:
    """AES-128-CTR keystream keyed by HKDF from a 32-byte seed (``os.urandom`` if omitted).

    Fast for large buffers (written in place with ``update_into``). With an explicit seed the
    stream is reproducible, which is what tests want.
    """

    __slots__ = ("_enc",)

    def __init__(self, seed: bytes | None = None) -> None:
        from . import kdf, labels  # local import: kdf imports nothing from here

        if seed is None:
            seed = os.urandom(32)
        if len(seed) < 16:
            raise ValueError("seed must be at least 16 bytes")
        key = kdf.derive(seed, labels.CSPRNG_KEY, _FIXED_SESSION, length=16)
        cipher = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * _BLOCK))
        self._enc = cipher.encryptor()

    def token_bytes(self, n: int) -> bytes:
        return self._enc.update(b"\x00" * n)

    def fill(self, out: np.ndarray) -> None:
        from .prg import read_into  # local import: prg imports kdf, which imports nothing here

        read_into(self._enc, _byte_view(out))

    def __repr__(self) -> str:
        return "AesCtrRandom(<seeded>)"

    def __reduce__(self):  # noqa: D105 - secret state must not be pickled
        raise TypeError("random sources hold secret state and cannot be pickled")


def _byte_view(out: np.ndarray) -> np.ndarray:
    if not out.flags.c_contiguous:
        raise ValueError("fill() needs a C-contiguous array")
    return out.reshape(-1).view(np.uint8)


def default_source() -> RandomSource:
    """The production source: AES-CTR freshly keyed from ``os.urandom``."""
    return AesCtrRandom()


def resolve(rng: RandomSource | None) -> RandomSource:
    """Return ``rng`` or, when ``None``, a fresh production source."""
    return default_source() if rng is None else rng


def randbelow(rng: RandomSource, bound: int) -> int:
    """A uniform integer in ``[0, bound)`` by rejection sampling (no modulo bias)."""
    if bound <= 0:
        raise ValueError("bound must be positive")
    nbits = bound.bit_length()
    nbytes = (nbits + 7) // 8
    excess = nbytes * 8 - nbits
    while True:
        x = int.from_bytes(rng.token_bytes(nbytes), "big") >> excess
        if x < bound:
            return x
