"""The messages of a LightSecAgg round as frozen value objects, checked on construction.

Client → server: ``AdvertiseKey``, ``ShareMasks``, ``MaskedInput``, ``AggregateReply``.
Server → client: ``PublicKeys``, ``SubMasks``, ``Survivors``. The checks are SecAgg's
(:mod:`protocols.checks`): ids in range, byte strings of possible lengths, lists strictly
increasing; what depends on the round (sizes, known ids, field ranges) is checked by
:mod:`protocols.lightsecagg.codec` against the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.checks import (
    KEY_BYTES,
    IdBytes,
    check_bytes,
    check_id,
    check_increasing,
    check_pairs,
)
from secagg.errors import MalformedMessage
from secagg.field import PRIME


def check_field_vector(vector: object, what: str) -> None:
    """A 1-D uint32 ndarray of field elements (each below p < 2^31, so two of them add in 32
    bits without wrapping)."""
    if not isinstance(vector, np.ndarray) or vector.ndim != 1 or vector.dtype != np.uint32:
        raise MalformedMessage(f"{what} must be a 1-D uint32 ndarray")
    if vector.size and int(vector.max()) >= PRIME:
        raise MalformedMessage(f"{what} holds a value outside the field (>= p)")


@dataclass(frozen=True, slots=True)
class AdvertiseKey:
    """advertise_keys, client → server: the public key others seal their sub-masks to."""

    sender: int
    c_pk: bytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_bytes(self.c_pk, "c_pk", KEY_BYTES)


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """advertise_keys → share_masks, server → client: every advertiser's c_pk, by id (U1)."""

    keys: IdBytes

    def __post_init__(self) -> None:
        check_pairs(self.keys, "public keys", KEY_BYTES)


@dataclass(frozen=True, slots=True)
class ShareMasks:
    """share_masks, client → server: per other member of U1, the coded sub-mask sealed to it."""

    sender: int
    sealed: IdBytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_pairs(self.sealed, "sealed sub-masks")


@dataclass(frozen=True, slots=True, eq=False)
class PackedShareMasks:
    """``ShareMasks`` as the server keeps it: recipient ids and the ciphertexts back to back.

    Same wire message; this form spares the server a Python object per ciphertext (N² of them).
    """

    sender: int
    recipients: tuple[int, ...]
    ciphertexts: bytes
    size: int

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_increasing(self.recipients, "sub-mask recipients")
        check_bytes(self.ciphertexts, "ciphertexts", len(self.recipients) * self.size)

    def rows(self) -> np.ndarray:
        """One row of bytes per recipient, in id order."""
        return np.frombuffer(self.ciphertexts, dtype=np.uint8).reshape(-1, self.size)


@dataclass(frozen=True, slots=True)
class SubMasks:
    """share_masks → masked_input, server → client: the sealed sub-masks addressed to
    ``recipient``, by dealer (U2 less the recipient)."""

    recipient: int
    sealed: IdBytes

    def __post_init__(self) -> None:
        check_id(self.recipient, "recipient")
        check_pairs(self.sealed, "sealed sub-masks")


@dataclass(frozen=True, slots=True, eq=False)
class MaskedInput:
    """masked_input, client → server: y_i = x_i + z_i mod p, and the dealers whose sub-masks
    did not open (``refused``: the server leaves them out of U3)."""

    sender: int
    vector: np.ndarray
    refused: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_field_vector(self.vector, "masked vector")
        check_increasing(self.refused, "refused dealers")


@dataclass(frozen=True, slots=True)
class Survivors:
    """masked_input → aggregate_mask, server → client: U3, whose masks the replies must sum."""

    alive: tuple[int, ...]

    def __post_init__(self) -> None:
        check_increasing(self.alive, "alive ids")


@dataclass(frozen=True, slots=True, eq=False)
class AggregateReply:
    """aggregate_mask, client → server: Σ_{i ∈ U3} of the coded sub-masks the sender holds."""

    sender: int
    vector: np.ndarray

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_field_vector(self.vector, "aggregate reply")


CLIENT_MESSAGES = (AdvertiseKey, ShareMasks, MaskedInput, AggregateReply)
SERVER_MESSAGES = (PublicKeys, SubMasks, Survivors)
