"""Randomized Hadamard rotation x -> H D x / sqrt(n): spreads an L2-bounded vector evenly over
the coordinates so that modular wrap-around is unlikely (KLS 2021, Sec. 4). D holds random
signs expanded from a 32-byte seed that all clients and the server share for the round (the FL
layer derives it per round); the inverse is D H y / sqrt(n)."""

from __future__ import annotations

import numpy as np

from .errors import DPError
from .rng import AesCtrSource


def padded_dimension(d: int) -> int:
    """The next power of two >= d."""
    if d < 1:
        raise DPError(f"dimension must be >= 1, got {d}")
    return 1 << (d - 1).bit_length()


def signs(seed: bytes, n: int) -> np.ndarray:
    """n random signs (+1./-1.) expanded from ``seed`` with AES-CTR."""
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise DPError("rotation seed must be 32 bytes")
    raw = np.empty((n + 7) // 8, dtype=np.uint8)
    AesCtrSource(seed).fill(raw)
    bits = np.unpackbits(raw)[:n]
    return 1.0 - 2.0 * bits.astype(np.float64)


def _fwht(x: np.ndarray) -> np.ndarray:
    """Orthonormal fast Walsh-Hadamard transform of a power-of-two-length vector (a copy)."""
    y = np.array(x, dtype=np.float64)
    n = y.size
    h = 1
    while h < n:
        v = y.reshape(-1, 2, h)
        a = v[:, 0, :].copy()
        v[:, 0, :] += v[:, 1, :]
        v[:, 1, :] = a - v[:, 1, :]
        h *= 2
    return y / np.sqrt(n)


def rotate(x: np.ndarray, seed: bytes) -> np.ndarray:
    """H D pad(x) / sqrt(n), length padded_dimension(len(x)); norm preserving."""
    v = np.asarray(x, dtype=np.float64)
    n = padded_dimension(v.size)
    padded = np.zeros(n)
    padded[: v.size] = v
    return _fwht(padded * signs(seed, n))


def unrotate(y: np.ndarray, seed: bytes, dimension: int) -> np.ndarray:
    """Inverse of :func:`rotate`, truncated back to ``dimension`` coordinates."""
    v = np.asarray(y, dtype=np.float64)
    if v.size != padded_dimension(dimension):
        raise DPError("rotated vector has the wrong length for this dimension")
    return (_fwht(v) * signs(seed, v.size))[:dimension]
