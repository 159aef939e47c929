"""The messages of a round as frozen value objects, checked on construction.

Client → server: ``AdvertiseKeys``, ``SeedReveal`` (malicious SecAgg+), ``ShareKeys``,
``MaskedInput``, ``ConsistencySignature``, ``UnmaskShares``. Server → client: ``SeedCommitments``
(malicious SecAgg+), ``KeyList``, ``Bundles``, ``Survivors``, ``Signatures``.
Construction rejects ids out of the field, byte strings of impossible lengths and lists that are
not strictly increasing (so no id appears twice) with ``MalformedMessage``; what depends on the
round (exact sizes, known ids) is checked by :mod:`protocols.secagg.codec` against the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.checks import (
    KEY_BYTES,
    SIGNATURE_BYTES,
    IdBytes,
    check_bytes,
    check_id,
    check_increasing,
    check_pairs,
)
from protocols.wire import IdSet
from secagg.errors import MalformedMessage

DIGEST_BYTES = 32  # graph-nonce commitments, their digest, self-mask seed commitments
SHARE_COMMIT_BYTES = 16  # one dealer's commitment to one holder's share
NONCE_BYTES = 16  # a client's graph-seed nonce


def _check_idset(ids: object, what: str) -> None:
    """An id set: an ``IdSet`` was checked when it was built (once per survivor set, not once
    per client that receives it); anything else as a strictly increasing tuple."""
    if type(ids) is not IdSet:
        check_increasing(ids, what)  # type: ignore[arg-type]


def _check_signature(sig: object, optional: bool) -> None:
    check_bytes(sig, "signature")
    if len(sig) != SIGNATURE_BYTES and not (optional and len(sig) == 0):  # type: ignore[arg-type]
        raise MalformedMessage(f"signature must be {SIGNATURE_BYTES} bytes")


def _check_optional(value: object, what: str, size: int) -> None:
    check_bytes(value, what)
    if len(value) not in (0, size):  # type: ignore[arg-type]
        raise MalformedMessage(f"{what} must be {size} bytes or empty")


@dataclass(frozen=True, slots=True)
class AdvertiseKeys:
    """Stage 0, client → server: c_pk (Box), s_pk (mask agreement), signature or b'', and in
    malicious SecAgg+ the commitment to the client's graph-seed nonce (else b'')."""

    sender: int
    c_pk: bytes
    s_pk: bytes
    signature: bytes = b""
    graph_commitment: bytes = b""

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_bytes(self.c_pk, "c_pk", KEY_BYTES)
        check_bytes(self.s_pk, "s_pk", KEY_BYTES)
        _check_signature(self.signature, optional=True)
        _check_optional(self.graph_commitment, "graph commitment", DIGEST_BYTES)


@dataclass(frozen=True, slots=True)
class SeedCommitments:
    """Malicious SecAgg+, server → client: the digest of every advertiser's nonce commitment."""

    digest: bytes

    def __post_init__(self) -> None:
        check_bytes(self.digest, "commitments digest", DIGEST_BYTES)


@dataclass(frozen=True, slots=True)
class SeedReveal:
    """Malicious SecAgg+, client → server: the graph-seed nonce the client committed to."""

    sender: int
    nonce: bytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_bytes(self.nonce, "graph nonce", NONCE_BYTES)


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
    """Stage 0 → 1, server → client: the keys of the client's live neighbourhood (itself too),
    and in malicious SecAgg+ every advertiser's revealed graph-seed nonce."""

    entries: tuple[KeyEntry, ...]
    nonces: IdBytes = ()

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple) or not all(
            isinstance(e, KeyEntry) for e in self.entries
        ):
            raise MalformedMessage("entries must be a tuple of KeyEntry")
        check_increasing(tuple(e.client_id for e in self.entries), "key list ids")
        check_pairs(self.nonces, "graph nonces", NONCE_BYTES)


@dataclass(frozen=True, slots=True)
class ShareKeys:
    """Stage 1, client → server: one sealed share bundle per neighbour (recipient, ciphertext),
    the dealer's commitments to every share (per holder in id order, the sender included: key
    share then self-mask share, 16 bytes each) and its commitment to its self-mask seed b_u.

    The server checks each reconstruction against them, so a tampered share is found, named
    and routed around instead of spoiling the sum."""

    sender: int
    bundles: IdBytes
    share_commitments: bytes
    seed_commitment: bytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_pairs(self.bundles, "bundles")
        check_bytes(self.share_commitments, "share commitments",
                    (len(self.bundles) + 1) * 2 * SHARE_COMMIT_BYTES)
        check_bytes(self.seed_commitment, "self-mask seed commitment", DIGEST_BYTES)


@dataclass(frozen=True, slots=True, eq=False)
class PackedShareKeys:
    """``ShareKeys`` as the server keeps it: recipient ids and the ciphertexts back to back.

    Same wire message; this form spares the server a Python object per ciphertext (n² of them).
    """

    sender: int
    recipients: tuple[int, ...]
    ciphertexts: bytes
    size: int
    share_commitments: bytes
    seed_commitment: bytes

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        check_increasing(self.recipients, "bundle recipients")
        check_bytes(self.ciphertexts, "ciphertexts", len(self.recipients) * self.size)
        check_bytes(self.share_commitments, "share commitments",
                    (len(self.recipients) + 1) * 2 * SHARE_COMMIT_BYTES)
        check_bytes(self.seed_commitment, "self-mask seed commitment", DIGEST_BYTES)

    def without_ciphertexts(self) -> PackedShareKeys:
        """The same message less its ciphertexts (once forwarded, the server keeps only what
        recovery checks against: the recipients and the commitments)."""
        return PackedShareKeys(self.sender, self.recipients, b"", 0, self.share_commitments,
                               self.seed_commitment)

    def holders(self) -> tuple[int, ...]:
        """Everyone holding a share of the sender's secrets, in id order (the sender too)."""
        return tuple(sorted((*self.recipients, self.sender)))

    def routed_rows(self) -> np.ndarray:
        """One row per recipient: its ciphertext, then the dealer's commitments to its shares
        (what the server forwards, so each holder can check what it was dealt)."""
        per = 2 * SHARE_COMMIT_BYTES
        cts = np.frombuffer(self.ciphertexts, dtype=np.uint8).reshape(-1, self.size)
        commits = np.frombuffer(self.share_commitments, dtype=np.uint8).reshape(-1, per)
        rec = np.asarray(self.recipients, dtype=np.int64)
        at = np.arange(rec.size) + (rec > self.sender)  # recipients' places among the holders
        return np.concatenate([cts, commits[at]], axis=1)


@dataclass(frozen=True, slots=True)
class Bundles:
    """Stage 1 → 2, server → client: the bundles addressed to ``recipient``, per sender the
    ciphertext followed by the sender's commitments to the recipient's two shares."""

    recipient: int
    bundles: IdBytes

    def __post_init__(self) -> None:
        check_id(self.recipient, "recipient")
        check_pairs(self.bundles, "bundles")


@dataclass(frozen=True, slots=True, eq=False)
class MaskedInput:
    """Stage 2, client → server: y_u, integers in [0, 2^b), and the neighbours whose share
    bundles did not open or did not match their commitments (``refused``: y_u has no pairwise
    mask with them, and the server leaves them out of the sum)."""

    sender: int
    vector: np.ndarray
    refused: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_id(self.sender, "sender")
        if not isinstance(self.vector, np.ndarray) or self.vector.ndim != 1:
            raise MalformedMessage("masked vector must be a 1-D ndarray")
        _check_idset(self.refused, "refused dealers")


@dataclass(frozen=True, slots=True)
class Survivors:
    """Stage 2 → 3/4, server → client: U3 (``alive``) and the client's neighbours in U2 \\ U3
    (``dead``: all of U2 \\ U3 in SecAgg, where everyone is a neighbour). A client only ever
    uses the dead among its neighbours, so the rest would be O(n) bytes it has no use for;
    the whole of U3 it needs, to check that the survivors do not split the graph."""

    alive: tuple[int, ...]
    dead: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_idset(self.alive, "alive ids")
        _check_idset(self.dead, "dead ids")


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
    """Stage 3 → 4 (malicious), server → client: U3, the client's neighbours in U2 \\ U3 (as
    in ``Survivors``) and the U4 signatures on U3 of its closed neighbourhood (the only ones
    it counts)."""

    alive: tuple[int, ...]
    dead: tuple[int, ...]
    signatures: IdBytes

    def __post_init__(self) -> None:
        _check_idset(self.alive, "alive ids")
        _check_idset(self.dead, "dead ids")
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


CLIENT_MESSAGES = (
    AdvertiseKeys, SeedReveal, ShareKeys, MaskedInput, ConsistencySignature, UnmaskShares,
)
SERVER_MESSAGES = (SeedCommitments, KeyList, Bundles, Survivors, Signatures)
