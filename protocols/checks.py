"""Checks every protocol's messages and configs share: ids, byte strings, ints, session ids.

Message checks raise ``MalformedMessage`` (a peer sent it); config checks raise ``ConfigError``
(the caller asked for it). Ids are Shamir x-coordinates, so every protocol keeps them in
[1, 2^31 - 1).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Container, Mapping, Sequence
from collections.abc import Set as AbstractSet
from enum import Enum

from secagg.errors import ConfigError, MalformedMessage, OutOfOrder, ProtocolViolation

FIELD_PRIME = 2**31 - 1  # client ids are x-coordinates: 1 <= id < p
MIN_SESSION_ID_BYTES = 16
MAX_SESSION_ID_BYTES = 1024
KEY_BYTES = 32  # an X25519 public key
SIGNATURE_BYTES = 64  # an Ed25519 signature
_EPS = 1e-14  # rates like 0.05 * 1000 must floor to 50, not 49

IdBytes = tuple[tuple[int, bytes], ...]
_INT = frozenset({int})


def check_id(value: object, what: str = "client id") -> int:
    """An id is an int in [1, 2^31 - 1) (a Shamir x-coordinate)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < FIELD_PRIME:
        raise MalformedMessage(f"{what} must be an int in [1, 2^31 - 1), got {value!r}")
    return value


def check_bytes(value: object, what: str, size: int | None = None) -> bytes:
    """Bytes, of exactly ``size`` when given."""
    if not isinstance(value, bytes):
        raise MalformedMessage(f"{what} must be bytes")
    if size is not None and len(value) != size:
        raise MalformedMessage(f"{what} must be {size} bytes, got {len(value)}")
    return value


def check_increasing(ids: Sequence[int], what: str) -> None:
    """Ids strictly increasing: sorted and without duplicates."""
    if not isinstance(ids, tuple):
        raise MalformedMessage(f"{what} must be a tuple")
    if not _INT.issuperset(map(type, ids)):  # every id an int (not a bool, not a float)
        for cid in ids:
            check_id(cid, what)
    if not all(map(operator.lt, ids, ids[1:])):
        raise MalformedMessage(f"{what} must be strictly increasing (sorted, no duplicates)")
    if ids:
        check_id(ids[0], what)
        check_id(ids[-1], what)


def check_pairs(pairs: object, what: str, size: int | None = None) -> None:
    """A tuple of (id, bytes) pairs with strictly increasing ids."""
    if not isinstance(pairs, tuple) or not all(
        type(p) is tuple and len(p) == 2 for p in pairs
    ):
        raise MalformedMessage(f"{what} must be a tuple of (id, bytes) pairs")
    check_increasing(tuple(p[0] for p in pairs), f"{what} ids")
    if not all(type(p[1]) is bytes for p in pairs):
        raise MalformedMessage(f"{what} must be bytes")
    if size is not None and not all(len(p[1]) == size for p in pairs):
        raise MalformedMessage(f"{what} must be {size} bytes each")


def check_ids(client_ids: Sequence[int]) -> tuple[int, ...]:
    try:
        ids = tuple(client_ids)
    except TypeError:
        raise ConfigError("client_ids must be a sequence of ints") from None
    for cid in ids:
        if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid < FIELD_PRIME:
            raise ConfigError(f"client_ids must be ints in [1, 2^31 - 1), got {cid!r}")
    if len(set(ids)) != len(ids):
        raise ConfigError("client_ids must be distinct")
    if len(ids) < 2:
        raise ConfigError("client_ids must name at least 2 clients")
    return tuple(sorted(ids))


def check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")


def check_session(session_id: object) -> None:
    if not isinstance(session_id, bytes):
        raise ConfigError("session_id must be bytes")
    if not MIN_SESSION_ID_BYTES <= len(session_id) <= MAX_SESSION_ID_BYTES:
        raise ConfigError(
            f"session_id must be {MIN_SESSION_ID_BYTES}..{MAX_SESSION_ID_BYTES} bytes, "
            f"got {len(session_id)}"
        )


def worst_count(rate: float, n: int) -> int:
    """Bad clients to plan for: ⌈rate·n⌉ (Google floors; ceil keeps small n honest)."""
    return min(n, math.ceil(max(rate * n - _EPS * n, 0.0)))


def check_sender(stage: Enum, accepting: bool, client_id: object, senders: AbstractSet[int],
                 sent: Container[int]) -> None:
    """A server may take a message from ``client_id`` now: the stage accepts messages, the id
    is an int of a client that may send in it, and that client has not sent in it yet."""
    if not accepting:
        raise OutOfOrder(f"no messages are accepted in stage {stage.value!r}")
    if type(client_id) is not int:
        raise ProtocolViolation(f"client id must be an int, got {type(client_id).__name__}")
    if client_id not in senders:
        raise ProtocolViolation(f"client {client_id!r} may not send in stage {stage.value!r}")
    if client_id in sent:
        raise ProtocolViolation(f"client {client_id} already sent its {stage.value} message")


def reporters_by_dealer(refused: Mapping[int, AbstractSet[int]]) -> dict[int, frozenset[int]]:
    """Holder -> dealers it refused, turned into dealer -> holders that refused it."""
    out: dict[int, set[int]] = {}
    for reporter, dealers in refused.items():
        for v in dealers:
            out.setdefault(v, set()).add(reporter)
    return {v: frozenset(r) for v, r in sorted(out.items())}
