"""Raw mask PRG: AES-128-CTR keystream read as a vector of values in Z_{2^b} (lower layer).

You probably want :func:`secagg.masking.accumulate_masks`, which adds many masks into a vector
without temporaries. This module is the sharp layer it stands on.

Layout (fixed by wire version ``labels.VERSION``): the key is
``HKDF(seed, labels.PRG_KEY, session_id)[:16]``; the CTR counter block is a 128-bit big-endian
integer starting at 0 (all-zero nonce). Value ``i`` is keystream bytes ``[i*w, (i+1)*w)`` read
little-endian, with ``w`` = 4 (uint32, 8 <= b <= 32) or 8 (uint64, 33 <= b <= 64), reduced mod 2^b
by keeping the low ``b`` bits. Because 2^b divides 2^(8w), every value is exactly uniform. Value
offset ``start`` begins at counter block ``start*w // 16``, skipping ``start*w % 16`` bytes, so a
long mask can be produced in chunks that agree byte for byte with the whole.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from . import kdf, labels

SEED_BYTES = 32
KEY_BYTES = 16
BLOCK_BYTES = 16
MIN_BITS, MAX_BITS = 8, 64

# Source of zeros for update_into (CTR output = keystream XOR input). 64 KiB: big enough that the
# per-call overhead vanishes, small enough to stay in L2 next to the destination.
_ZERO_CHUNK_BYTES = 1 << 16
_ZEROS = np.zeros(_ZERO_CHUNK_BYTES + BLOCK_BYTES, dtype=np.uint8)
_ZEROS.flags.writeable = False
_SLACK = BLOCK_BYTES - 1  # update_into demands len(out) >= len(data) + block_size - 1


def dtype_for_bits(bits: int) -> np.dtype:
    """Storage dtype of values mod 2^bits: uint32 for 8..32 bits, uint64 for 33..64 bits."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits must be an integer in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")
    if MIN_BITS <= bits <= 32:
        return np.dtype(np.uint32)
    if 32 < bits <= MAX_BITS:
        return np.dtype(np.uint64)
    raise ValueError(f"bits must be in [{MIN_BITS}, {MAX_BITS}], got {bits}")


def value_mask(bits: int) -> int:
    """The bit mask 2^bits - 1 that reduces a storage word mod 2^bits."""
    dtype_for_bits(bits)
    return (1 << bits) - 1


def prg_key(seed: bytes, session_id: bytes) -> bytes:
    """The 16-byte AES key of the mask PRG, unique per (seed, session)."""
    return prg_keys([seed], session_id)[0]


def prg_keys(seeds: Iterable[bytes], session_id: bytes) -> list[bytes]:
    """:func:`prg_key` of every seed, the KDF context built once for all of them."""
    info = kdf.build_info(labels.PRG_KEY, session_id)
    out = []
    for seed in seeds:
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
            raise ValueError(f"mask seed must be {SEED_BYTES} bytes")
        out.append(kdf.hkdf_sha256(bytes(seed), info, KEY_BYTES))
    return out


def counter_block(block_index: int) -> bytes:
    """The 16-byte big-endian CTR counter block for keystream block ``block_index``."""
    return int(block_index).to_bytes(BLOCK_BYTES, "big")


def open_stream(key: bytes, start: int, wordbytes: int) -> CipherContext:
    """An AES-CTR encryptor positioned at value offset ``start`` (words of ``wordbytes``).

    Reading ``n*wordbytes`` bytes from it (see :func:`read_into`) yields values
    ``start .. start+n-1``; successive reads continue the stream.
    """
    return open_streams([key], start, wordbytes)[0]


def open_streams(keys: Iterable[bytes], start: int, wordbytes: int) -> list[CipherContext]:
    """:func:`open_stream` for every key, all at the same offset (one shared CTR mode)."""
    if start < 0:
        raise ValueError("start must be >= 0")
    block, skip = divmod(int(start) * wordbytes, BLOCK_BYTES)
    mode = modes.CTR(counter_block(block))
    out = []
    for key in keys:
        enc = Cipher(algorithms.AES(key), mode).encryptor()
        if skip:
            enc.update(bytes(skip))
        out.append(enc)
    return out


def read_into(enc: CipherContext, out: np.ndarray) -> None:
    """Write ``out.nbytes`` keystream bytes from ``enc`` into the C-contiguous array ``out``.

    Needs ``len(out) + 15`` bytes of room per ``update_into`` call, so the last piece (and an
    ``out`` shorter than a block) goes through a small scratch buffer.
    """
    buf = out.reshape(-1).view(np.uint8)
    n = buf.size
    pos = 0
    while n - pos > _SLACK:
        take = min(_ZERO_CHUNK_BYTES, n - pos - _SLACK)
        enc.update_into(_ZEROS[:take].data, buf[pos:].data)
        pos += take
    if pos < n:
        tail = bytearray(2 * BLOCK_BYTES)
        k = enc.update_into(_ZEROS[: n - pos].data, tail)
        buf[pos:] = np.frombuffer(tail, dtype=np.uint8, count=k)


def _keystream_into(key: bytes, counter: bytes, out: np.ndarray) -> None:
    """Raw AES-128-CTR keystream from 16-byte ``counter`` into ``out`` (the KAT entry point)."""
    enc = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    read_into(enc, out)


def expand_mask(
    seed: bytes,
    session_id: bytes,
    length: int,
    bits: int,
    out: np.ndarray | None = None,
    *,
    start: int = 0,
) -> np.ndarray:
    """Values ``start .. start+length-1`` of the mask PRG(seed, session) in [0, 2^bits).

    Written in place into ``out`` when given (C-contiguous, dtype ``dtype_for_bits(bits)``).
    """
    dtype = dtype_for_bits(bits)
    if length < 0:
        raise ValueError("length must be >= 0")
    if out is None:
        out = np.empty(length, dtype=dtype)
    elif out.dtype != dtype or out.shape != (length,) or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {dtype} vector of length {length}")
    if length:
        key = prg_key(seed, session_id)
        read_into(open_stream(key, start, dtype.itemsize), out)
        if bits < 8 * dtype.itemsize:
            np.bitwise_and(out, dtype.type(value_mask(bits)), out=out)
    return out
