"""``PublicMemo``: a small per-process cache of values derived from public bytes only (labels,
session ids), so a round derives its KDF prefixes and headers once, not once per message.

Bounded: emptied when full (a process runs few sessions at once). A key that cannot be hashed
(a bytearray or writable memoryview session id) is never cached: the value is built each time,
as it was before caching. Keys are stored as ``bytes``, so a cached value never depends on a
buffer its caller may change later. Never put a secret in one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class PublicMemo(Generic[V]):
    """``get(key, build)``: ``build()`` once per key (a tuple of byte strings)."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        self._items: dict[tuple[bytes, ...], V] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[bytes, ...], build: Callable[[], V]) -> V:
        try:
            got = self._items.get(key)
        except (TypeError, ValueError):  # unhashable (bytearray, writable view): no caching
            return build()
        if got is None:
            got = build()
            if len(self._items) >= self._limit:
                self._items.clear()
            self._items[tuple(bytes(part) for part in key)] = got
        return got
