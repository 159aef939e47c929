"""The framing every protocol's codec shares: length-prefixed fields, id lists and id sets.

A ``Writer`` collects the fields of one message; a ``Reader`` takes them back, checking every
length and every id against the round's roster, so each protocol's codec says only which fields
its messages have. Integers are big-endian u32; an id set travels as the smaller of an id list
and a bitmap over the round's sorted client list.
"""

from __future__ import annotations

import struct
from typing import Generic, Protocol, TypeVar

import numpy as np

from secagg.errors import MalformedMessage

from .checks import IdBytes

U32 = struct.Struct(">I")


class Roster(Protocol):
    """What the framing reads of a round's config: its sorted client ids."""

    @property
    def client_ids(self) -> tuple[int, ...]: ...

    @property
    def num_clients(self) -> int: ...


class Writer:
    """The fields of one message, in order."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u32(self, value: int) -> None:
        self.parts.append(U32.pack(value))

    def blob(self, data: bytes) -> None:
        self.parts.append(U32.pack(len(data)))
        self.parts.append(data)

    def ids(self, ids: tuple[int, ...]) -> None:
        self.u32(len(ids))
        self.parts.append(np.asarray(ids, dtype=">u4").tobytes())

    def idset(self, ids: tuple[int, ...], known: np.ndarray) -> None:
        """A set of client ids as the smaller of a list (tag 0, count, u32 ids) and a bitmap
        over the round's sorted client list (tag 1, ⌈n/8⌉ bytes): n/8 bytes for large sets."""
        if 4 * len(ids) <= (known.size + 7) // 8:
            self.parts.append(b"\x00")
            self.ids(ids)
            return
        bits = np.isin(known, np.asarray(ids, dtype=np.int64))
        self.parts.append(b"\x01" + np.packbits(bits, bitorder="little").tobytes())

    def pairs(self, pairs: IdBytes, size: int) -> None:
        """count, ids (u32 each), blob size, then the blobs back to back (all of ``size``)."""
        self.ids(tuple(cid for cid, _ in pairs))
        if any(len(blob) != size for _, blob in pairs):
            raise MalformedMessage(f"every blob of this field must be {size} bytes")
        self.u32(size)
        self.parts.extend(blob for _, blob in pairs)


C = TypeVar("C", bound=Roster)


class Reader(Generic[C]):
    """Reads fields back from ``pos``, refusing truncation, unknown ids and trailing bytes."""

    __slots__ = ("data", "pos", "config", "known")

    def __init__(self, data: bytes, pos: int, config: C) -> None:
        self.data = data
        self.pos = pos
        self.config = config
        self.known = known_ids(config)

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise MalformedMessage("message is truncated")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u32(self) -> int:
        return U32.unpack(self.take(4))[0]

    def count(self, limit: int) -> int:
        n = self.u32()
        if n > limit:
            raise MalformedMessage(f"list of {n} items exceeds the {limit} allowed")
        return n

    def cid(self) -> int:
        value = self.u32()
        if value not in self.known:
            raise MalformedMessage(f"unknown client id {value}")
        return value

    def blob(self, sizes: tuple[int, ...], what: str) -> bytes:
        n = self.u32()
        if n not in sizes:
            want = " or ".join(map(str, sizes))
            raise MalformedMessage(f"{what} of {n} bytes, expected {want} in this round")
        return self.take(n)

    def ids(self) -> tuple[int, ...]:
        n = self.count(self.config.num_clients)
        arr = np.frombuffer(self.take(4 * n), dtype=">u4").astype(np.int64)
        known = known_array(self.config)
        pos = np.searchsorted(known, arr)
        if n and (pos.max() >= known.size or not np.array_equal(known[pos], arr)):
            raise MalformedMessage("unknown client id in list")
        return tuple(arr.tolist())

    def idset(self) -> tuple[int, ...]:
        """The inverse of :meth:`Writer.idset`; a bitmap's padding bits must be zero."""
        tag = self.take(1)[0]
        if tag == 0:
            return self.ids()
        if tag != 1:
            raise MalformedMessage(f"unknown id-set encoding {tag}")
        known = known_array(self.config)
        raw = np.frombuffer(self.take((known.size + 7) // 8), dtype=np.uint8)
        bits = np.unpackbits(raw, bitorder="little")
        if bits[known.size :].any():
            raise MalformedMessage("id bitmap has bits past the last client")
        return tuple(known[bits[: known.size].astype(bool)].tolist())

    def pairs(self, size: int) -> IdBytes:
        ids = self.ids()
        if self.u32() != size:
            raise MalformedMessage(f"blobs of this field must be {size} bytes")
        blob = self.take(len(ids) * size)
        return tuple(zip(ids, [blob[i : i + size] for i in range(0, len(blob), size)], strict=True))

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedMessage(f"{len(self.data) - self.pos} trailing bytes")


_KNOWN_SETS: dict[tuple[int, ...], frozenset[int]] = {}
_KNOWN_ARRAYS: dict[tuple[int, ...], np.ndarray] = {}


def known_array(config: Roster) -> np.ndarray:
    got = _KNOWN_ARRAYS.get(config.client_ids)
    if got is None:
        if len(_KNOWN_ARRAYS) > 16:
            _KNOWN_ARRAYS.clear()
        got = _KNOWN_ARRAYS[config.client_ids] = np.array(config.client_ids, dtype=np.int64)
    return got


def known_ids(config: Roster) -> frozenset[int]:
    got = _KNOWN_SETS.get(config.client_ids)
    if got is None:
        if len(_KNOWN_SETS) > 16:
            _KNOWN_SETS.clear()
        got = _KNOWN_SETS[config.client_ids] = frozenset(config.client_ids)
    return got
