"""Safe combined mask operations: add many signed PRG masks into one vector mod 2^b, in place.

The work is fused per chunk of the vector: for each seed, AES-CTR writes the keystream chunk into
one reused buffer (L2-sized) and a numba kernel adds or subtracts it into ``acc``. Memory stays
O(len(acc)) whatever the number of seeds, and no full-length temporary is ever made.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import kernels, prg

#: Keystream bytes per chunk. 128 KiB: the buffer, the acc chunk and the zero source stay in a
#: 512 KiB L2, and update_into's per-call cost is amortised. Tuned with
#: bench/micro/test_bench_masking.py (32-64 KiB chunks measured slower, 256 KiB no faster).
CHUNK_BYTES = 1 << 17


def accumulate_masks(
    acc: np.ndarray,
    seeds: Sequence[bytes],
    signs: Sequence[int],
    session_id: bytes,
    bits: int,
    start: int = 0,
) -> np.ndarray:
    """In place: ``acc[i] += sum_j signs[j] * PRG(seeds[j], session)[start + i]  mod 2^bits``.

    ``acc`` must be a C-contiguous vector of ``dtype_for_bits(bits)``; its result is reduced to
    [0, 2^bits). Returns ``acc``. Nothing is modified if an argument is rejected.
    """
    dtype = _check_acc(acc, bits)
    sign_list = _check_seeds_signs(seeds, signs)
    if start < 0:
        raise ValueError("start must be >= 0")
    streams = [prg.open_stream(prg.prg_key(s, session_id), start, dtype.itemsize) for s in seeds]
    mask = dtype.type(prg.value_mask(bits))
    reduce = bits < 8 * dtype.itemsize
    chunk = max(1, min(CHUNK_BYTES // dtype.itemsize, acc.shape[0]))
    # update_into needs 15 bytes of room past the data: give the one reused buffer 16 extra bytes
    # so every keystream chunk lands in place, block-aligned, with no tail copy.
    raw = np.empty(chunk * dtype.itemsize + prg.BLOCK_BYTES, dtype=np.uint8)
    zeros = np.zeros(chunk * dtype.itemsize, dtype=np.uint8)
    for lo in range(0, acc.shape[0], chunk):
        part = acc[lo : lo + chunk]
        nbytes = part.shape[0] * dtype.itemsize
        src = zeros[:nbytes]
        words = raw[:nbytes].view(dtype)
        for enc, sign in zip(streams, sign_list, strict=True):
            enc.update_into(src, raw)
            kernels.accumulate_words(part, words, sign)
        if reduce:
            kernels.mask_inplace(part, mask)
    return acc


def add_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``(a + b) mod 2^bits`` as a new vector of ``dtype_for_bits(bits)``."""
    out = np.empty_like(_check_pair(a, b, bits))
    kernels.add_mod_into(a, b, out, out.dtype.type(prg.value_mask(bits)))
    return out


def sub_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``(a - b) mod 2^bits`` as a new vector of ``dtype_for_bits(bits)``."""
    out = np.empty_like(_check_pair(a, b, bits))
    kernels.sub_mod_into(a, b, out, out.dtype.type(prg.value_mask(bits)))
    return out


def _check_acc(acc: np.ndarray, bits: int) -> np.dtype:
    dtype = prg.dtype_for_bits(bits)
    if not isinstance(acc, np.ndarray) or acc.dtype != dtype:
        got = getattr(acc, "dtype", type(acc).__name__)
        raise TypeError(f"acc must be a numpy array of {dtype} for bits={bits}, got {got}")
    if acc.ndim != 1 or not acc.flags.c_contiguous or not acc.flags.writeable:
        raise ValueError("acc must be a writeable C-contiguous 1-D array")
    return dtype


def _check_seeds_signs(seeds: Sequence[bytes], signs: Sequence[int]) -> list[int]:
    if len(seeds) != len(signs):
        raise ValueError(f"{len(seeds)} seeds but {len(signs)} signs")
    for s in seeds:
        if not isinstance(s, (bytes, bytearray)) or len(s) != prg.SEED_BYTES:
            raise ValueError(f"every mask seed must be {prg.SEED_BYTES} bytes")
    out = []
    for g in signs:
        if isinstance(g, bool) or g not in (1, -1):
            raise ValueError(f"signs must be +1 or -1, got {g!r}")
        out.append(int(g))
    return out


def _check_pair(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    dtype = prg.dtype_for_bits(bits)
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != dtype or x.ndim != 1:
            raise TypeError(f"{name} must be a 1-D numpy array of {dtype} for bits={bits}")
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return a
