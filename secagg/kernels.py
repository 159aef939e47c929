"""numba kernels for vector arithmetic mod 2^b, each beside its pure-NumPy reference.

Arrays are uint32 (b <= 32) or uint64 (b > 32). Sums and differences wrap natively mod 2^32 or
2^64; since 2^b divides the word modulus, a single final ``& (2^b - 1)`` gives the result mod 2^b,
so the hot loop never masks. Masks are passed as a scalar of the array's dtype (a Python int would
make numba mix signed and unsigned types). The ``_reference_*`` functions define the results.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def accumulate_words(acc: np.ndarray, words: np.ndarray, sign: int) -> None:
    """``acc[i] += sign * words[i]`` wrapping mod the word size, in place (sign is +1 or -1)."""
    n = acc.shape[0]
    if sign > 0:
        for i in range(n):
            acc[i] += words[i]
    else:
        for i in range(n):
            acc[i] -= words[i]


@njit(cache=True, nogil=True)
def mask_inplace(acc: np.ndarray, mask: np.unsignedinteger) -> None:
    """``acc[i] &= mask`` in place: the final reduction mod 2^b."""
    for i in range(acc.shape[0]):
        acc[i] &= mask


@njit(cache=True, nogil=True)
def add_mod_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, mask: np.unsignedinteger) -> None:
    """``out = (a + b) & mask`` elementwise (mask = 2^b - 1)."""
    for i in range(out.shape[0]):
        out[i] = (a[i] + b[i]) & mask


@njit(cache=True, nogil=True)
def sub_mod_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, mask: np.unsignedinteger) -> None:
    """``out = (a - b) & mask`` elementwise (mask = 2^b - 1)."""
    for i in range(out.shape[0]):
        out[i] = (a[i] - b[i]) & mask


def _reference_accumulate(acc: np.ndarray, words: np.ndarray, sign: int) -> np.ndarray:
    """NumPy reference of :func:`accumulate_words` (returns a new array)."""
    with np.errstate(over="ignore"):
        return acc + words if sign > 0 else acc - words


def _reference_add_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """NumPy reference of :func:`add_mod_into` via Python integers (obviously right, slow)."""
    r = [(int(x) + int(y)) % (1 << bits) for x, y in zip(a, b, strict=True)]
    return np.array(r, dtype=a.dtype)


def _reference_sub_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """NumPy reference of :func:`sub_mod_into` via Python integers (obviously right, slow)."""
    r = [(int(x) - int(y)) % (1 << bits) for x, y in zip(a, b, strict=True)]
    return np.array(r, dtype=a.dtype)


def _reference_accumulate_masks(
    acc: np.ndarray, masks: list[np.ndarray], signs: list[int], bits: int
) -> np.ndarray:
    """Python-integer reference of a whole signed accumulation mod 2^bits."""
    mod = 1 << bits
    out = [int(x) for x in acc]
    for mvec, s in zip(masks, signs, strict=True):
        out = [(o + s * int(v)) % mod for o, v in zip(out, mvec, strict=True)]
    return np.array(out, dtype=acc.dtype)
