"""Public per-round randomness of compression, derived from one 32-byte round seed.

Every client and the server of a round expand the same seed into the same rotation signs,
subsample and sketch hashes, so the integer vectors they sum line up and the masks still cancel.
None of it is secret (it only chooses which linear map the round uses), but it must not depend
on the data and must be fresh per round; the server draws it (``round_seed``) and ships it with
the round's config. Each purpose gets its own key: ``secagg.kdf.derive`` (HKDF-SHA256 bound to a
versioned label from ``secagg.labels``, the wire version, and the round seed in the place of the
session id), then AES-128-CTR (``secagg.csprng.AesCtrRandom``), never ``random`` or NumPy's
generators.
"""

from __future__ import annotations

import os

import numpy as np

from secagg import kdf, labels
from secagg.csprng import AesCtrRandom, RandomSource

SEED_BYTES = 32
ROTATION = labels.COMPRESSION_ROTATION
SUBSAMPLE = labels.COMPRESSION_SUBSAMPLE
SKETCH = labels.COMPRESSION_SKETCH
DP_ROTATION = labels.COMPRESSION_DP_ROTATION
LABELS = (ROTATION, SUBSAMPLE, SKETCH, DP_ROTATION)


def round_seed(rng: RandomSource | None = None) -> bytes:
    """A fresh public round seed (the server's CSPRNG, or ``rng`` in tests)."""
    return os.urandom(SEED_BYTES) if rng is None else rng.token_bytes(SEED_BYTES)


def derive(seed: bytes, label: bytes, *context: int) -> bytes:
    """32 bytes for one purpose (``label``) and position (``context``, e.g. a block index)."""
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise ValueError(f"the round seed must be {SEED_BYTES} bytes")
    if label not in LABELS:
        raise ValueError(f"unknown compression label {label!r}")
    where = b"".join(int(c).to_bytes(8, "big") for c in context)
    return kdf.derive(seed, label, seed, where, SEED_BYTES)


def stream(seed: bytes, label: bytes, *context: int) -> AesCtrRandom:
    """An AES-CTR stream keyed for one purpose of the round."""
    return AesCtrRandom(derive(seed, label, *context))


def subset(seed: bytes, dimension: int, size: int) -> np.ndarray:
    """``size`` distinct coordinates of ``range(dimension)``, sorted: the round's shared sample
    (the smallest of ``dimension`` random 64-bit keys; ties, at odds of 2^-64 per pair, go to
    the lower index)."""
    keys = np.empty(dimension, dtype=np.uint64)
    stream(seed, SUBSAMPLE, dimension, size).fill(keys)
    return np.sort(np.argsort(keys, kind="stable")[:size])


def buckets(seed: bytes, row: int, dimension: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Count-sketch row ``row``: a bucket in [0, width) and a sign ±1 for every coordinate."""
    src = stream(seed, SKETCH, row, dimension, width)
    words = np.empty(dimension, dtype=np.uint64)
    src.fill(words)
    signs = 1 - 2 * (words & np.uint64(1)).astype(np.int64)
    return _below(src, width, dimension), signs


def _below(src: RandomSource, bound: int, size: int) -> np.ndarray:
    """``size`` uniform ints in [0, bound) by masked rejection (no modulo bias)."""
    mask = np.uint64((1 << max(1, (bound - 1).bit_length())) - 1)
    out = np.empty(0, dtype=np.int64)
    while out.size < size:
        words = np.empty(2 * (size - out.size) + 8, dtype=np.uint64)
        src.fill(words)
        draws = (words & mask).astype(np.int64)
        out = np.concatenate([out, draws[draws < bound]])
    return out[:size]
