"""The messages of a round as frozen value objects, checked on construction.

Client → server: ``AdvertiseKeys``, ``ShareKeys``, ``MaskedInput``, ``ConsistencySignature``,
``UnmaskShares``. Server → client: ``KeyList``, ``Bundles``, ``Survivors``, ``Signatures``.
Construction rejects ids out of the field, byte strings of impossible lengths and lists that are
not strictly increasing (so no id appears twice) with ``MalformedMessage``; what depends on the
round (exact sizes, known ids) is checked by :mod:`protocols.codec` against the config.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secagg.errors import MalformedMessage

from .config import FIELD_PRIME

KEY_BYTES = 32
SIGNATURE_BYTES = 64

IdBytes = tuple[tuple[int, bytes], ...]


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
    if not all(type(cid) is int for cid in ids):
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


def _check_signature(sig: object, optional: bool) -> None:
    check_bytes(sig, "signature")
    if len(sig) != SIGNATURE_BYTES and not (optional and len(sig) == 0):  # type: ignore[arg-type]
        raise MalformedMessage(f"signature must be {SIGNATURE_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class AdvertiseKeys:
    """Stage 0, client → server: c_pk (Box), s_pk (mask agreement), signature or b''."""

    sender: int
    c_pk: bytes
    s_pk: bytes
    signature: bytes = b""

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_bytes(self.c_pk, "c_pk", KEY_BYTES)
        check_bytes(self.s_pk, "s_pk", KEY_BYTES)
        _check_signature(self.signature, optional=True)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One client's advertised keys as the server relays them."""

    client_id: int
    c_pk: bytes
    s_pk: bytes
    signature: bytes = b""

    def __post_init__(self) -> None:
        check_id(self.client_id)
        check_bytes(self.c_pk, "c_pk", KEY_BYTES)
        check_bytes(self.s_pk, "s_pk", KEY_BYTES)
        _check_signature(self.signature, optional=True)


@dataclass(frozen=True, slots=True)
class KeyList:
    """Stage 0 → 1, server → client: the keys of the client's live neighbourhood (itself too)."""

    entries: tuple[KeyEntry, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple) or not all(
            isinstance(e, KeyEntry) for e in self.entries
        ):
            raise MalformedMessage("entries must be a tuple of KeyEntry")
        check_increasing(tuple(e.client_id for e in self.entries), "key list ids")


@dataclass(frozen=True, slots=True)
class ShareKeys:
    """Stage 1, client → server: one sealed share bundle per neighbour (recipient, ciphertext)."""

    sender: int
    bundles: IdBytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_pairs(self.bundles, "bundles")


@dataclass(frozen=True, slots=True, eq=False)
class PackedShareKeys:
    """``ShareKeys`` as the server keeps it: recipient ids and the ciphertexts back to back.

    Same wire message; this form spares the server a Python object per ciphertext (n² of them).
    """

    sender: int
    recipients: tuple[int, ...]
    ciphertexts: bytes
    size: int

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_increasing(self.recipients, "bundle recipients")
        check_bytes(self.ciphertexts, "ciphertexts", len(self.recipients) * self.size)


@dataclass(frozen=True, slots=True)
class Bundles:
    """Stage 1 → 2, server → client: the bundles addressed to ``recipient`` (sender, ciphertext)."""

    recipient: int
    bundles: IdBytes

    def __post_init__(self) -> None:
        check_id(self.recipient, "recipient")
        check_pairs(self.bundles, "bundles")


@dataclass(frozen=True, slots=True, eq=False)
class MaskedInput:
    """Stage 2, client → server: y_u, integers in [0, 2^b)."""

    sender: int
    vector: np.ndarray

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        if not isinstance(self.vector, np.ndarray) or self.vector.ndim != 1:
            raise MalformedMessage("masked vector must be a 1-D ndarray")


@dataclass(frozen=True, slots=True)
class Survivors:
    """Stage 2 → 3/4, server → client: U3 (``alive``) and U2 \\ U3 (``dead``)."""

    alive: tuple[int, ...]
    dead: tuple[int, ...]

    def __post_init__(self) -> None:
        check_increasing(self.alive, "alive ids")
        check_increasing(self.dead, "dead ids")


@dataclass(frozen=True, slots=True)
class ConsistencySignature:
    """Stage 3 (malicious), client → server: Ed25519 signature over (session, sorted U3)."""

    sender: int
    signature: bytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        _check_signature(self.signature, optional=False)


@dataclass(frozen=True, slots=True)
class Signatures:
    """Stage 3 → 4 (malicious), server → client: U3, U2 \\ U3 and the U4 signatures on U3."""

    alive: tuple[int, ...]
    dead: tuple[int, ...]
    signatures: IdBytes

    def __post_init__(self) -> None:
        check_increasing(self.alive, "alive ids")
        check_increasing(self.dead, "dead ids")
        check_pairs(self.signatures, "signatures", SIGNATURE_BYTES)


@dataclass(frozen=True, slots=True)
class UnmaskShares:
    """Stage 4, client → server: shares of b_v (alive v) and of s_sk_v (dead v), by owner v."""

    sender: int
    mask_shares: IdBytes
    key_shares: IdBytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_pairs(self.mask_shares, "mask shares")
        check_pairs(self.key_shares, "key shares")
        both = {v for v, _ in self.mask_shares} & {v for v, _ in self.key_shares}
        if both:
            raise MalformedMessage(f"both kinds of share for {sorted(both)[:3]}")


CLIENT_MESSAGES = (AdvertiseKeys, ShareKeys, MaskedInput, ConsistencySignature, UnmaskShares)
SERVER_MESSAGES = (KeyList, Bundles, Survivors, Signatures)
