"""The framing every protocol's codec shares: length-prefixed fields, id lists and id sets.

A ``Writer`` collects the fields of one message; a ``Reader`` takes them back, checking every
length and every id against the round's roster, so each protocol's codec says only which fields
its messages have. Integers are big-endian u32; an id set travels as the smaller of an id list
and a bitmap over the round's sorted client list.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from secagg.errors import MalformedMessage, OutOfOrder, WrongSession

from .checks import IdBytes, check_increasing

U32 = struct.Struct(">I")


def header(magic: bytes, version: int, code: int, session_id: bytes) -> bytes:
    """``magic ‖ version ‖ type ‖ len(session) (u16) ‖ session``: how every message starts."""
    return magic + bytes((version, code)) + len(session_id).to_bytes(2, "big") + session_id


def open_message(data: object, magic: bytes, version: int, types: Mapping[int, type],
                 config: C, expected: tuple[type, ...]) -> tuple[type, Reader[C]]:
    """The type of message ``data`` and a reader at its first field, after checking, in order,
    that it is bytes, its magic, version and type (``MalformedMessage``), its session
    (``WrongSession``) and that the type is one ``expected`` now (``OutOfOrder``)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedMessage("message must be bytes")
    data = bytes(data)
    session_id: bytes = config.session_id
    cls = read_header(data, magic, version, types, session_id)
    if cls not in expected:
        names = " or ".join(c.__name__ for c in expected)
        raise OutOfOrder(f"got a message of type {cls.__name__} where {names} was expected")
    return cls, Reader(data, len(magic) + 4 + len(session_id), config)


def read_header(data: bytes, magic: bytes, version: int, types: Mapping[int, type],
                session_id: bytes) -> type:
    """The message type of ``data``, after checking magic, version and type
    (``MalformedMessage``) and the session (``WrongSession``); its fields start at
    ``len(magic) + 4 + len(session_id)``."""
    head = len(magic) + 4
    if len(data) < head or data[: len(magic)] != magic:
        raise MalformedMessage("bad magic")
    if data[len(magic)] != version:
        raise MalformedMessage(f"unsupported wire version {data[len(magic)]}")
    cls = types.get(data[len(magic) + 1])
    if cls is None:
        raise MalformedMessage(f"unknown message type {data[len(magic) + 1]}")
    n = int.from_bytes(data[len(magic) + 2 : head], "big")
    if len(data) < head + n:
        raise MalformedMessage("message is truncated")
    if data[head : head + n] != session_id:
        raise WrongSession("message belongs to another session")
    return cls


class Roster(Protocol):
    """What the framing reads of a round's config: its sorted client ids."""

    @property
    def client_ids(self) -> tuple[int, ...]: ...

    @property
    def num_clients(self) -> int: ...

    @property
    def session_id(self) -> bytes: ...


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

    def idset(self, ids: tuple[int, ...], known: np.ndarray, *, compact: bool = False) -> None:
        """A set of client ids as the smallest of a list (tag 0, count, u32 ids), a bitmap over
        the round's sorted client list (tag 1, ⌈n/8⌉ bytes) and, when ``compact``, an
        Elias–Fano code of the set or of its complement (tag 2, see :func:`ef_encode`): about
        c·(2 + log2(n/c)) bits for the c ids on the smaller side, 6.6 kB for 10 % of 10^5."""
        self.parts.append(idset_bytes(ids, known, compact=compact))

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
        got: tuple[int, ...] = struct.unpack(f">{n}I", self.take(4 * n))
        if not self.known.issuperset(got):  # n hash lookups: no array round trip per list
            raise MalformedMessage("unknown client id in list")
        return got

    def idset(self, *, compact: bool = False) -> IdSet:
        """The inverse of :meth:`Writer.idset` (tag 2 only where ``compact``); padding bits
        must be zero and every id known.

        A bitmap or a code decodes to an :class:`IdSet` shared by every reader of the same bytes
        in this process (a simulated round's clients all get one survivor set: one decode).
        """
        tag = self.take(1)[0]
        if tag == 0:
            return IdSet(self.ids())
        known = known_array(self.config)
        if tag == 1:
            raw = self.take((known.size + 7) // 8)
        elif tag == 2 and compact:
            start = self.pos
            flag, count = self.take(1)[0], self.u32()
            if flag > 1 or count > known.size:
                raise MalformedMessage("id code: bad complement flag or count")
            self.take(sum(ef_sizes(known.size, count)))
            raw = self.data[start : self.pos]
        else:
            raise MalformedMessage(f"unknown id-set encoding {tag}")
        key = (id(known), bytes((tag,)) + raw)
        got = _DECODED.get(key)
        if got is None or got[0] is not known:
            members = _bitmap_members(raw, known.size) if tag == 1 else _code_members(raw, known.size)
            got = (known, IdSet(known[members].tolist(), key=key[1]))
            if len(_DECODED) >= 8:
                evict_oldest(_DECODED)
            _DECODED[key] = got
        return got[1]

    def packed(self, size: int) -> tuple[tuple[int, ...], bytes]:
        """An id list, then one blob of ``size`` bytes per id back to back (see
        :meth:`Writer.pairs`): the ids and the blobs' bytes, unsplit."""
        ids = self.ids()
        if self.u32() != size:
            raise MalformedMessage(f"blobs of this field must be {size} bytes")
        return ids, self.take(len(ids) * size)

    def pairs(self, size: int) -> IdBytes:
        ids, blob = self.packed(size)
        return tuple(zip(ids, [blob[i : i + size] for i in range(0, len(blob), size)], strict=True))

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedMessage(f"{len(self.data) - self.pos} trailing bytes")


class IdSet(tuple):
    """Strictly increasing client ids, as decoded from an id set: a tuple (equal to the plain
    tuple of the same ids) whose membership test is a hash lookup, and whose :attr:`key` (the
    encoded bytes, cheap to hash) lets caches recognise one survivor set without hashing n ids.
    """

    _key: bytes | None
    _members: frozenset[int] | None

    def __new__(cls, ids: Iterable[int] = (), *, key: bytes | None = None) -> IdSet:
        self = super().__new__(cls, ids)
        if key is None:  # a bitmap's ids come from the roster: sorted, known, ints
            check_increasing(tuple(self), "id set")
        self._key = key
        self._members = None
        return self

    @property
    def key(self) -> bytes:
        """Bytes that identify this set among the round's id sets."""
        if self._key is None:
            self._key = np.asarray(self, dtype=">u4").tobytes()
        return self._key

    def __contains__(self, value: object) -> bool:
        if self._members is None:
            self._members = frozenset(self)
        return value in self._members

    __hash__ = tuple.__hash__
    __eq__ = tuple.__eq__
    __ne__ = tuple.__ne__


_DECODED: dict[tuple[int, bytes], tuple[np.ndarray, IdSet]] = {}


def idset_bytes(ids: tuple[int, ...], known: np.ndarray, *, compact: bool = False) -> bytes:
    """The encoded id set (see :meth:`Writer.idset`); ids must be known."""
    n = known.size
    c = len(ids)
    plain = b"\x00" + U32.pack(c) + (struct.pack(f">{c}I", *ids) if c <= _SMALL_LIST
                                      else np.asarray(ids, dtype=">u4").tobytes())
    if len(plain) <= 1 + (n + 7) // 8 and (not compact or len(plain) <= CODE_MIN_SAVING):
        return plain
    bits = np.zeros(n, dtype=bool)
    bits[np.searchsorted(known, np.asarray(ids, dtype=np.int64))] = True
    simple = min(plain, b"\x01" + np.packbits(bits, bitorder="little").tobytes(), key=len)
    if not compact or len(simple) <= CODE_MIN_SAVING:
        return simple
    flag = int(2 * len(ids) > n)
    positions = np.flatnonzero(bits != bool(flag))
    code = b"\x02" + bytes((flag,)) + U32.pack(positions.size) + ef_encode(positions, n)
    return code if len(code) + CODE_MIN_SAVING <= len(simple) else simple


#: Bytes a tag-2 code must save over the list or the bitmap to be sent instead.
CODE_MIN_SAVING = 64
#: Id lists up to this long are packed by ``struct`` (a numpy round trip costs more for them).
_SMALL_LIST = 256


def ef_sizes(n: int, count: int) -> tuple[int, int]:
    """Bytes of the high and the low part of an Elias–Fano code of ``count`` of n positions."""
    low = _low_bits(n, count)
    return (count + (n >> low) + 8) // 8 if count else 0, (count * low + 7) // 8


def _low_bits(n: int, count: int) -> int:
    return max(0, (n // count).bit_length() - 1) if count else 0


def ef_encode(positions: np.ndarray, n: int) -> bytes:
    """Elias–Fano: strictly increasing positions in [0, n) as high parts in unary (bit
    ``(p >> L) + i`` set for the i-th position) then the low L bits of each, L = ⌊log2(n/c)⌋."""
    c = positions.size
    if not c:
        return b""
    low = _low_bits(n, c)
    high_len, _ = ef_sizes(n, c)
    high = np.zeros(8 * high_len, dtype=np.uint8)
    high[(positions >> low) + np.arange(c)] = 1
    lows = ((positions[:, None] >> np.arange(low)) & 1).astype(np.uint8).ravel()
    return (np.packbits(high, bitorder="little").tobytes()
            + np.packbits(lows, bitorder="little").tobytes())


def _code_members(raw: bytes, n: int) -> np.ndarray:
    """The roster positions a tag-2 code names, as a boolean mask (checks every bit)."""
    flag, count = raw[0], U32.unpack(raw[1:5])[0]
    high_len, low_len = ef_sizes(n, count)
    low = _low_bits(n, count)
    members = np.zeros(n, dtype=bool)
    if count:
        high = np.unpackbits(np.frombuffer(raw, np.uint8, high_len, 5), bitorder="little")
        ones = np.flatnonzero(high)
        lows = np.unpackbits(np.frombuffer(raw, np.uint8, low_len, 5 + high_len),
                             bitorder="little")
        if ones.size != count or lows[count * low :].any():
            raise MalformedMessage("id code: wrong number of high bits or padding not zero")
        lo = (lows[: count * low].reshape(count, low).astype(np.int64)
              << np.arange(low)).sum(axis=1)
        positions = ((ones - np.arange(count)) << low) | lo
        if positions[-1] >= n or np.any(np.diff(positions) <= 0):
            raise MalformedMessage("id code: positions out of range or not increasing")
        members[positions] = True
    return ~members if flag else members


def _bitmap_members(raw: bytes, n: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    if bits[n:].any():
        raise MalformedMessage("id bitmap has bits past the last client")
    return bits[:n].astype(bool)
_KNOWN: dict[int, tuple[tuple[int, ...], frozenset[int], np.ndarray]] = {}


def _known(config: Roster) -> tuple[tuple[int, ...], frozenset[int], np.ndarray]:
    """The roster as a set and a sorted array, cached by the identity of ``client_ids`` (hashing
    a tuple of n ids for every message would cost O(n) per message)."""
    ids = config.client_ids
    got = _KNOWN.get(id(ids))
    if got is None or got[0] is not ids:
        if len(_KNOWN) > 16:
            _KNOWN.clear()
        got = _KNOWN[id(ids)] = (ids, frozenset(ids), np.array(ids, dtype=np.int64))
    return got


def known_array(config: Roster) -> np.ndarray:
    """The round's sorted client ids as an int64 array (cached; do not write to it)."""
    return _known(config)[2]


def known_ids(config: Roster) -> frozenset[int]:
    """The round's client ids as a frozenset (cached)."""
    return _known(config)[1]


def evict_oldest(cache: dict[Any, Any]) -> None:
    """Drop a cache's oldest entry; safe when threads of one process (a simulated federation
    delivering messages concurrently) evict at once: a lost race only keeps an entry longer."""
    try:
        cache.pop(next(iter(cache)), None)
    except (StopIteration, RuntimeError):
        pass
