"""Uniform elements of GF(p), p = 2^31 - 1, from an AES-128-CTR keystream (raw layer).

The key is ``HKDF(seed, label, session, context)[:16]`` and the keystream is read as
little-endian uint32 words from counter block 0, as :mod:`secagg.prg` reads it. Each word keeps
its low 31 bits, which are uniform on [0, 2^31) = [0, p]; the one value p is rejected and the
stream continues, so every element is *exactly* uniform on [0, p) (rejection, not reduction: a
word reduced mod p would make 0 twice as likely as any other value, a bias of 2^-31 per element
that over 10^5 elements is no longer negligible). A rejection happens once in 2^31 words, so a
vector almost always costs exactly its own length in keystream. The same seed, label, session
and context always give the same elements.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import kdf, prg
from .field import PRIME

_LOW31 = np.uint32(PRIME)  # 2^31 - 1 is also the mask of the low 31 bits
_WORD = 4


def field_key(seed: bytes, label: bytes, session_id: bytes, context: bytes = b"") -> bytes:
    """The 16-byte AES key of one field stream, bound to label, version, session and context."""
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != prg.SEED_BYTES:
        raise ValueError(f"field stream seed must be {prg.SEED_BYTES} bytes")
    return kdf.derive(bytes(seed), label, session_id, context, prg.KEY_BYTES)


def expand_field(key: bytes, length: int) -> np.ndarray:
    """``length`` uniform elements of GF(p) (uint64) from the keystream of ``key``."""
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be an int >= 0, got {length!r}")
    out = np.empty(length, dtype=np.uint64)
    enc = prg.open_stream(key, 0, _WORD)
    filled = 0
    while filled < length:
        words = np.empty(length - filled, dtype=np.uint32)
        prg.read_into(enc, words)
        filled = _accept(words, out, filled)
    return out


@njit(cache=True, nogil=True)
def _accept(words, out, filled):
    """Append the low 31 bits of each word, except the value p, to ``out`` from ``filled``."""
    for i in range(words.shape[0]):
        v = words[i] & _LOW31
        if v != _LOW31:
            out[filled] = v
            filled += 1
    return filled


def _reference_expand_field(key: bytes, length: int) -> np.ndarray:
    """Python reference of :func:`expand_field`: word by word from the raw keystream."""
    enc = prg.open_stream(key, 0, _WORD)
    out: list[int] = []
    while len(out) < length:
        word = int.from_bytes(enc.update(bytes(_WORD)), "little") & PRIME
        if word != PRIME:
            out.append(word)
    return np.array(out, dtype=np.uint64)
