"""Dense wire packing of vectors mod 2^b: exactly ceil(len*b/8) bytes.

Bit order is little-endian throughout: the packed bytes, read as one little-endian integer, equal
``sum(values[i] << (i*b))``; so value ``i`` starts at bit ``(i*b) % 8`` (counting from the least
significant bit) of byte ``(i*b) // 8``. Unused high bits of the last byte must be zero (one
canonical encoding per vector). Widths 8/16/32/64 are plain little-endian arrays; other widths use
the numba kernels below, each with a NumPy reference beside it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .errors import MalformedMessage
from .prg import dtype_for_bits

_BYTE_WIDTHS = {8: "<u1", 16: "<u2", 32: "<u4", 64: "<u8"}


def packed_size(length: int, bits: int) -> int:
    """Bytes of ``length`` packed ``bits``-bit values: ceil(length*bits/8)."""
    return (length * bits + 7) // 8


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Pack a 1-D vector of values in [0, 2^bits) into exactly ceil(len*bits/8) bytes."""
    dtype_for_bits(bits)
    values = np.asarray(values)
    if values.ndim != 1 or values.dtype.kind != "u":
        raise TypeError("values must be a 1-D unsigned integer array")
    if bits < 64 and values.size and int(values.max()) >> bits:
        raise ValueError(f"values must be < 2^{bits}")
    if bits in _BYTE_WIDTHS:
        return values.astype(_BYTE_WIDTHS[bits], copy=False).tobytes()
    out = np.zeros(packed_size(values.shape[0], bits), dtype=np.uint8)
    _pack_kernel(np.ascontiguousarray(values, dtype=np.uint64), bits, out)
    return out.tobytes()


def unpack_bits(data: bytes, bits: int, length: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`; MalformedMessage if the size or padding is wrong."""
    dtype = dtype_for_bits(bits)
    if length < 0:
        raise ValueError("length must be >= 0")
    expected = packed_size(length, bits)
    if len(data) != expected:
        raise MalformedMessage(f"packed vector has {len(data)} bytes, expected {expected}")
    raw = np.frombuffer(data, dtype=np.uint8)
    if bits in _BYTE_WIDTHS:
        return np.frombuffer(data, dtype=_BYTE_WIDTHS[bits]).astype(dtype)
    used = (length * bits) % 8
    if used and int(raw[-1]) >> used:
        raise MalformedMessage("nonzero padding bits in packed vector")
    out = np.empty(length, dtype=dtype)
    _unpack_kernel(raw, bits, out)
    return out


@njit(cache=True, nogil=True)
def _pack_kernel(values: np.ndarray, bits: int, out: np.ndarray) -> None:
    """OR each value's bits into ``out`` (zeroed) at bit offset i*bits, little-endian."""
    for i in range(values.shape[0]):
        pos = i * bits
        byte = pos >> 3
        shift = pos & 7
        v = values[i]
        out[byte] |= np.uint8((v << np.uint64(shift)) & np.uint64(0xFF))
        v = v >> np.uint64(8 - shift)
        done = 8 - shift
        k = byte + 1
        while done < bits:
            out[k] = np.uint8(v & np.uint64(0xFF))
            v = v >> np.uint64(8)
            done += 8
            k += 1


@njit(cache=True, nogil=True)
def _unpack_kernel(raw: np.ndarray, bits: int, out: np.ndarray) -> None:
    """Read value i from bit offset i*bits of ``raw`` (little-endian), keeping its low bits."""
    if bits == 64:
        mask = np.uint64(0xFFFFFFFFFFFFFFFF)
    else:
        mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    for i in range(out.shape[0]):
        pos = i * bits
        byte = pos >> 3
        shift = pos & 7
        v = np.uint64(raw[byte]) >> np.uint64(shift)
        got = 8 - shift
        k = byte + 1
        while got < bits:
            v |= np.uint64(raw[k]) << np.uint64(got)
            got += 8
            k += 1
        out[i] = v & mask


def _reference_pack(values: np.ndarray, bits: int) -> bytes:
    """NumPy reference of :func:`pack_bits` via an explicit little-endian bit array."""
    v = np.asarray(values, dtype=np.uint64)
    bit_array = ((v[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bit_array.reshape(-1), bitorder="little").tobytes()


def _reference_unpack(data: bytes, bits: int, length: int) -> np.ndarray:
    """NumPy reference of :func:`unpack_bits` (no validation)."""
    bit_array = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    rows = bit_array[: length * bits].reshape(length, bits).astype(np.uint64)
    weights = np.uint64(1) << np.arange(bits, dtype=np.uint64)
    return (rows * weights).sum(axis=1, dtype=np.uint64).astype(dtype_for_bits(bits))
