"""The one wire format: ``magic ‖ version ‖ type ‖ len(session) ‖ session ‖ fields``.

Integers are big-endian; every byte string and list carries an explicit length (u32). A list
of (id, blob) pairs is ``count ‖ ids ‖ blob size ‖ blobs`` with every blob of the field's fixed
size, so the n² share bundles of a round are parsed with array operations, not byte by byte. Masked
vectors travel packed at b bits per value. Id sets travel as the smaller of an id list and a
bitmap over the round's sorted client list, and survivor sets (since wire version 3) also as an
Elias–Fano code of the set or its complement where that saves 64 bytes or more
(:func:`protocols.wire.idset_bytes`): U3 at 10 % dropout costs about 0.066·n bytes, half the
n/8 of a bitmap. No other server message to a SecAgg+ client grows with n: key lists and
bundles hold its k neighbours, and the dead and the consistency signatures it gets are its
neighbours' only (the one exception: malicious SecAgg+ key lists carry every advertiser's
16-byte graph nonce, which each client needs to check the graph seed). ``decode`` checks, in this order, magic, version and
type (``MalformedMessage``), the session (``WrongSession``), that the type is one the caller
expects now (``OutOfOrder``), then every length, id and range against the round's config
before building the message; trailing bytes are an error too.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, overload

import numpy as np

from protocols.checks import check_increasing
from protocols.wire import U32 as _U32
from protocols.wire import Reader, Writer, header, idset_bytes, known_array, known_ids, open_message
from secagg import bitpack, encryption, shamir
from secagg.errors import MalformedMessage

from .config import SecAggConfig
from .messages import (
    DIGEST_BYTES,
    KEY_BYTES,
    NONCE_BYTES,
    SHARE_COMMIT_BYTES,
    SIGNATURE_BYTES,
    AdvertiseKeys,
    Bundles,
    ConsistencySignature,
    IdBytes,
    KeyEntry,
    KeyList,
    MaskedInput,
    PackedShareKeys,
    SeedCommitments,
    SeedReveal,
    ShareKeys,
    Signatures,
    Survivors,
    UnmaskShares,
)

MAGIC = b"SAGG"
#: The version byte of every message and config of this codec. 2 was ``labels.VERSION`` (the
#: label and PRG layout version, unchanged); 3 adds the Elias–Fano id-set code (tag 2) that
#: survivor sets travel in. A peer of another version is refused on the first byte it reads.
WIRE_VERSION = 3

TYPE_CODES: dict[type, int] = {
    AdvertiseKeys: 0x01,
    ShareKeys: 0x02,
    MaskedInput: 0x03,
    ConsistencySignature: 0x04,
    UnmaskShares: 0x05,
    SeedReveal: 0x06,
    KeyList: 0x81,
    Bundles: 0x82,
    Survivors: 0x83,
    Signatures: 0x84,
    SeedCommitments: 0x85,
}
CONFIG_TYPE = 0xC0  # a SecAggConfig (see encode_config)
_Reader = Reader[SecAggConfig]
_TYPES = {code: cls for cls, code in TYPE_CODES.items()}


def share_blob_size() -> int:
    """Bytes of one party's Shamir share of one 32-byte secret."""
    return shamir.share_size(1)


def bundle_size(config: SecAggConfig) -> int:
    """Ciphertext bytes of one share bundle (a share of s_sk and a share of b)."""
    return encryption.sealed_size(2 * share_blob_size(), config.session_id)


def routed_bundle_size(config: SecAggConfig) -> int:
    """Bytes per sender in a ``Bundles`` message: the ciphertext and two share commitments."""
    return bundle_size(config) + 2 * SHARE_COMMIT_BYTES


def packed_size(config: SecAggConfig) -> int:
    """Bytes of a masked vector packed at b bits per value."""
    return (config.vector_length * config.modulus_bits + 7) // 8


# --- encoding ---------------------------------------------------------------------------------


def encode(message: object, config: SecAggConfig) -> bytes:
    """The wire bytes of ``message`` in this round."""
    code = TYPE_CODES.get(type(message))
    if code is None:
        raise TypeError(f"not a protocol message: {type(message).__name__}")
    w = Writer()
    w.parts.append(header(MAGIC, WIRE_VERSION, code, config.session_id))
    _ENCODERS[type(message)](w, message, config)
    return b"".join(w.parts)


def encode_bundles_raw(
    recipient: int, senders: np.ndarray, blobs: bytes, config: SecAggConfig
) -> bytes:
    """The wire bytes of ``Bundles(recipient, zip(senders, blobs))`` built from arrays.

    The server routes n² ciphertexts; this writes the same bytes as :func:`encode` without a
    Python object per ciphertext, after the same checks (known ids, strictly increasing, sizes).
    """
    size = routed_bundle_size(config)
    ids = np.asarray(senders, dtype=np.int64)
    known = known_array(config)
    pos = np.searchsorted(known, ids)
    if (
        ids.ndim != 1
        or recipient not in known_ids(config)
        or (ids.size and (pos.max() >= known.size or not np.array_equal(known[pos], ids)))
        or np.any(np.diff(ids) <= 0)
        or len(blobs) != ids.size * size
    ):
        raise MalformedMessage("bundle batch: unknown, unsorted or mis-sized entries")
    head = MAGIC + bytes((WIRE_VERSION, TYPE_CODES[Bundles]))
    session = len(config.session_id).to_bytes(2, "big") + config.session_id
    return b"".join((
        head, session, _U32.pack(recipient), _U32.pack(ids.size), ids.astype(">u4").tobytes(),
        _U32.pack(size), bytes(blobs),
    ))


def encode_bundles_routed(
    recipients: np.ndarray,
    bounds: np.ndarray,
    senders: np.ndarray,
    rows: np.ndarray,
    config: SecAggConfig,
) -> dict[int, bytes]:
    """Per recipient ``recipients[i]``, the bytes :func:`encode_bundles_raw` writes for
    ``(senders[lo:hi], rows[lo:hi])`` with ``lo, hi = bounds[i], bounds[i + 1]``: the routing
    of a whole stage at once, its checks (known ids, senders strictly increasing per
    recipient, row size) made on the arrays once instead of once per recipient."""
    size = routed_bundle_size(config)
    ids = np.asarray(senders, dtype=np.int64)
    to = np.asarray(recipients, dtype=np.int64)
    cuts = np.asarray(bounds, dtype=np.int64)
    known = known_array(config)
    if (
        ids.ndim != 1 or to.ndim != 1 or cuts.shape != (to.size + 1,)
        or rows.dtype != np.uint8 or rows.shape != (ids.size, size) or not rows.flags.c_contiguous
        or (cuts.size and (cuts[0] != 0 or cuts[-1] != ids.size or np.any(np.diff(cuts) < 0)))
        or not _all_known(known, to) or not _all_known(known, ids)
    ):
        raise MalformedMessage("bundle batch: unknown, unsorted or mis-sized entries")
    step = np.diff(ids) <= 0  # a fall between two entries of one recipient is out of order
    inner = cuts[1:-1]
    step[inner[(inner > 0) & (inner < ids.size)] - 1] = False  # a new list may start lower
    if step.any() or np.any(np.diff(to) <= 0):
        raise MalformedMessage("bundle batch: unknown, unsorted or mis-sized entries")
    head = _header(Bundles, config)
    id_bytes = ids.astype(">u4").tobytes()
    blob = rows.reshape(-1).data
    size_field = _U32.pack(size)
    return {
        v: b"".join((head, _U32.pack(v), _U32.pack(hi - lo), id_bytes[4 * lo : 4 * hi],
                     size_field, blob[lo * size : hi * size]))
        for v, lo, hi in zip(to.tolist(), cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)
    }


def _all_known(known: np.ndarray, ids: np.ndarray) -> bool:
    if not ids.size:
        return True
    pos = np.searchsorted(known, ids)
    return bool(pos.max() < known.size and np.array_equal(known[pos], ids))


def encode_survivors_each(
    alive: tuple[int, ...], dead: dict[int, tuple[int, ...]], config: SecAggConfig
) -> dict[int, bytes]:
    """Per client u, the bytes of ``Survivors(alive, dead[u])``: U3 is encoded once."""
    head = _header(Survivors, config) + idset_bytes(alive, known_array(config), compact=True)
    known = known_array(config)
    return {u: head + idset_bytes(d, known, compact=True) for u, d in dead.items()}


def encode_signatures_each(
    alive: tuple[int, ...],
    dead: dict[int, tuple[int, ...]],
    signatures: dict[int, IdBytes],
    config: SecAggConfig,
) -> dict[int, bytes]:
    """Per client u, the bytes of ``Signatures(alive, dead[u], signatures[u])``."""
    known = known_array(config)
    head = _header(Signatures, config) + idset_bytes(alive, known, compact=True)
    out = {}
    for u, d in dead.items():
        w = Writer()
        w.idset(d, known, compact=True)
        w.pairs(signatures[u], SIGNATURE_BYTES)
        out[u] = head + b"".join(w.parts)
    return out


def encode_key_lists(
    entries: dict[int, KeyEntry],
    members: dict[int, list[int]],
    nonces: IdBytes,
    config: SecAggConfig,
) -> dict[int, bytes]:
    """Per client u, the bytes of ``KeyList(entries of members[u], nonces)``, each entry
    encoded once for all the lists it is in."""
    one = {}
    for u, e in entries.items():
        w = Writer()
        _enc_key_entry(w, e)
        one[u] = b"".join(w.parts)
    tail = Writer()
    tail.pairs(nonces, NONCE_BYTES)
    end = b"".join(tail.parts)
    head = _header(KeyList, config)
    return {u: b"".join([head, _U32.pack(len(ids)), *(one[v] for v in ids), end])
            for u, ids in members.items()}


def _header(cls: type, config: SecAggConfig) -> bytes:
    return (MAGIC + bytes((WIRE_VERSION, TYPE_CODES[cls]))
            + len(config.session_id).to_bytes(2, "big") + config.session_id)


def _enc_advertise(w: Writer, m: AdvertiseKeys, config: SecAggConfig) -> None:
    w.u32(m.sender)
    w.blob(m.c_pk)
    w.blob(m.s_pk)
    w.blob(m.signature)
    w.blob(m.graph_commitment)


def _enc_seed_commitments(w: Writer, m: SeedCommitments, config: SecAggConfig) -> None:
    w.blob(m.digest)


def _enc_seed_reveal(w: Writer, m: SeedReveal, config: SecAggConfig) -> None:
    w.u32(m.sender)
    w.blob(m.nonce)


def _enc_key_list(w: Writer, m: KeyList, config: SecAggConfig) -> None:
    w.u32(len(m.entries))
    for e in m.entries:
        _enc_key_entry(w, e)
    w.pairs(m.nonces, NONCE_BYTES)


def _enc_key_entry(w: Writer, e: KeyEntry) -> None:
    w.u32(e.client_id)
    w.blob(e.c_pk)
    w.blob(e.s_pk)
    w.blob(e.signature)


def _enc_share_keys(w: Writer, m: ShareKeys, config: SecAggConfig) -> None:
    w.u32(m.sender)
    w.pairs(m.bundles, bundle_size(config))
    w.blob(m.share_commitments)
    w.blob(m.seed_commitment)


def _enc_bundles(w: Writer, m: Bundles, config: SecAggConfig) -> None:
    w.u32(m.recipient)
    w.pairs(m.bundles, routed_bundle_size(config))


def _enc_masked(w: Writer, m: MaskedInput, config: SecAggConfig) -> None:
    if len(m.vector) != config.vector_length:
        raise MalformedMessage("masked vector has the wrong length")
    w.u32(m.sender)
    w.parts.append(bytes((config.modulus_bits,)))
    w.u32(config.vector_length)
    w.blob(bitpack.pack_bits(m.vector, config.modulus_bits))
    w.idset(m.refused, known_array(config))


def _enc_survivors(w: Writer, m: Survivors, config: SecAggConfig) -> None:
    w.idset(m.alive, known_array(config), compact=True)
    w.idset(m.dead, known_array(config), compact=True)


def _enc_consistency(w: Writer, m: ConsistencySignature, config: SecAggConfig) -> None:
    w.u32(m.sender)
    w.blob(m.signature)


def _enc_signatures(w: Writer, m: Signatures, config: SecAggConfig) -> None:
    w.idset(m.alive, known_array(config), compact=True)
    w.idset(m.dead, known_array(config), compact=True)
    w.pairs(m.signatures, SIGNATURE_BYTES)


def _enc_unmask(w: Writer, m: UnmaskShares, config: SecAggConfig) -> None:
    w.u32(m.sender)
    w.pairs(m.mask_shares, share_blob_size())
    w.pairs(m.key_shares, share_blob_size())


_ENCODERS: dict[type, Callable[..., None]] = {
    AdvertiseKeys: _enc_advertise,
    KeyList: _enc_key_list,
    SeedCommitments: _enc_seed_commitments,
    SeedReveal: _enc_seed_reveal,
    ShareKeys: _enc_share_keys,
    Bundles: _enc_bundles,
    MaskedInput: _enc_masked,
    Survivors: _enc_survivors,
    ConsistencySignature: _enc_consistency,
    Signatures: _enc_signatures,
    UnmaskShares: _enc_unmask,
}


# --- decoding ---------------------------------------------------------------------------------


M = TypeVar("M")


@overload
def decode(data: bytes, config: SecAggConfig, expected: type[M]) -> M: ...
@overload
def decode(data: bytes, config: SecAggConfig, expected: tuple[type, ...]) -> object: ...
def decode(data: bytes, config: SecAggConfig, expected: type | tuple[type, ...]) -> object:
    """Parse and fully validate ``data``; the result is one of the ``expected`` message types."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    cls, reader = _open(data, config, expected)
    message = _DECODERS[cls](reader)
    reader.end()
    return message


def decode_packed_share_keys(data: bytes, config: SecAggConfig) -> PackedShareKeys:
    """Decode a ``ShareKeys`` message, with the same checks, into its packed server-side form."""
    _, r = _open(data, config, (ShareKeys,))
    sender = r.cid()
    size = bundle_size(config)
    recipients, blob = r.packed(size)
    commitments = r.blob((_share_commitments_size(len(recipients)),), "share commitments")
    seed_commitment = r.blob((DIGEST_BYTES,), "self-mask seed commitment")
    r.end()
    return PackedShareKeys(sender, recipients, blob, size, commitments, seed_commitment)


@dataclass(frozen=True, slots=True, eq=False)
class PackedUnmaskShares:
    """``UnmaskShares`` as the server keeps it: per kind the owner ids (also as they came,
    big-endian u32) and the shares back to back (``share_blob_size()`` bytes each), so the
    server regroups n·k shares by owner with array operations instead of a Python pair per
    share. Built only by :func:`decode_packed_unmask_shares`, which makes every check
    ``decode`` and ``UnmaskShares`` make."""

    sender: int
    mask_ids: tuple[int, ...]
    mask_id_bytes: bytes
    mask_shares: bytes
    key_ids: tuple[int, ...]
    key_id_bytes: bytes
    key_shares: bytes


def decode_packed_unmask_shares(data: bytes, config: SecAggConfig) -> PackedUnmaskShares:
    """Decode an ``UnmaskShares`` message, with the same checks in the same order (known ids,
    sizes, every limb below p, ids strictly increasing, no owner with both kinds of share, no
    trailing bytes), into its packed server-side form."""
    _, r = _open(data, config, (UnmaskShares,))
    sender = r.cid()
    size = share_blob_size()
    at = r.pos + 4  # the ids follow their count
    mask_ids, mask_blob = r.packed(size)
    mask_raw = r.data[at : at + 4 * len(mask_ids)]
    at = r.pos + 4
    key_ids, key_blob = r.packed(size)
    key_raw = r.data[at : at + 4 * len(key_ids)]
    _check_limbs(mask_blob, key_blob)
    check_increasing(mask_ids, "mask shares ids")
    check_increasing(key_ids, "key shares ids")
    if mask_ids and key_ids:
        both = set(mask_ids).intersection(key_ids)
        if both:
            raise MalformedMessage(f"both kinds of share for {sorted(both)[:3]}")
    r.end()
    return PackedUnmaskShares(sender, mask_ids, mask_raw, mask_blob, key_ids, key_raw, key_blob)


def _share_commitments_size(recipients: int) -> int:
    return (recipients + 1) * 2 * SHARE_COMMIT_BYTES


def _open(data: object, config: SecAggConfig, expected: tuple[type, ...]
          ) -> tuple[type, Reader[SecAggConfig]]:
    return open_message(data, MAGIC, WIRE_VERSION, _TYPES, config, expected)


_SIGNATURE = "signature (64 bytes in malicious mode, none otherwise)"


def _sig_sizes(config: SecAggConfig) -> tuple[int, ...]:
    return (SIGNATURE_BYTES,) if config.malicious else (0,)


def _graph_commitment_sizes(config: SecAggConfig) -> tuple[int, ...]:
    return (DIGEST_BYTES,) if config.graph_from_clients else (0,)


def _dec_advertise(r: _Reader) -> AdvertiseKeys:
    sender = r.cid()
    c_pk, s_pk = r.blob((KEY_BYTES,), "c_pk"), r.blob((KEY_BYTES,), "s_pk")
    signature = r.blob(_sig_sizes(r.config), _SIGNATURE)
    commitment = r.blob(_graph_commitment_sizes(r.config), "graph-nonce commitment")
    return AdvertiseKeys(sender, c_pk, s_pk, signature, commitment)


def _dec_seed_commitments(r: _Reader) -> SeedCommitments:
    return SeedCommitments(r.blob((DIGEST_BYTES,), "commitments digest"))


def _dec_seed_reveal(r: _Reader) -> SeedReveal:
    sender = r.cid()
    return SeedReveal(sender, r.blob((NONCE_BYTES,), "graph nonce"))


def _dec_key_list(r: _Reader) -> KeyList:
    """Entries are fixed-size records in a given round (every length field has one allowed
    value), so they are read as one array: the same bytes accepted as field by field."""
    n = r.count(r.config.num_clients)
    sig = _sig_sizes(r.config)[0]
    size = 4 + 3 * 4 + 2 * KEY_BYTES + sig
    rows = np.frombuffer(r.take(n * size), dtype=np.uint8).reshape(n, size)
    words = np.frombuffer(rows[:, np.r_[4:8, 8 + KEY_BYTES : 12 + KEY_BYTES,
                                        12 + 2 * KEY_BYTES : 16 + 2 * KEY_BYTES]].tobytes(),
                          dtype=">u4").reshape(n, 3)
    if n and not (words == np.array([KEY_BYTES, KEY_BYTES, sig])).all():
        raise MalformedMessage(f"key list entry field of the wrong size (keys {KEY_BYTES} "
                               f"bytes, signature {sig})")
    ids = np.frombuffer(rows[:, :4].tobytes(), dtype=">u4").astype(np.int64)
    known = known_array(r.config)
    pos = np.searchsorted(known, ids)
    if n and (pos.max() >= known.size or not np.array_equal(known[pos], ids)):
        raise MalformedMessage("unknown client id in key list")
    blob = rows.tobytes()
    c_at, s_at, g_at = 8, 12 + KEY_BYTES, 16 + 2 * KEY_BYTES
    entries = tuple(
        KeyEntry(cid, blob[o + c_at : o + c_at + KEY_BYTES], blob[o + s_at : o + s_at + KEY_BYTES],
                 blob[o + g_at : o + g_at + sig])
        for cid, o in zip(ids.tolist(), range(0, n * size, size), strict=True)
    )
    nonces = r.pairs(NONCE_BYTES)
    if nonces and not r.config.graph_from_clients:
        raise MalformedMessage("graph nonces in a round whose graph the session id fixes")
    return KeyList(entries, nonces)


def _dec_share_keys(r: _Reader) -> ShareKeys:
    sender = r.cid()
    bundles = r.pairs(bundle_size(r.config))
    commitments = r.blob((_share_commitments_size(len(bundles)),), "share commitments")
    seed = r.blob((DIGEST_BYTES,), "self-mask seed commitment")
    return ShareKeys(sender, bundles, commitments, seed)


def _dec_bundles(r: _Reader) -> Bundles:
    recipient = r.cid()
    return Bundles(recipient, r.pairs(routed_bundle_size(r.config)))


def _dec_masked(r: _Reader) -> MaskedInput:
    sender = r.cid()
    bits = r.take(1)[0]
    length = r.u32()
    if bits != r.config.modulus_bits or length != r.config.vector_length:
        raise MalformedMessage(f"masked vector of {length} x {bits} bits, expected "
                               f"{r.config.vector_length} x {r.config.modulus_bits}")
    packed = r.blob((packed_size(r.config),), "packed masked vector")
    return MaskedInput(sender, bitpack.unpack_bits(packed, bits, length), r.idset())


def _dec_survivors(r: _Reader) -> Survivors:
    return Survivors(r.idset(compact=True), r.idset(compact=True))


def _dec_consistency(r: _Reader) -> ConsistencySignature:
    sender = r.cid()
    return ConsistencySignature(sender, r.blob((SIGNATURE_BYTES,), "signature"))


def _dec_signatures(r: _Reader) -> Signatures:
    alive, dead = r.idset(compact=True), r.idset(compact=True)
    return Signatures(alive, dead, r.pairs(SIGNATURE_BYTES))


def _dec_unmask(r: _Reader) -> UnmaskShares:
    sender = r.cid()
    size = share_blob_size()
    mask_shares, key_shares = r.pairs(size), r.pairs(size)
    _check_share_values(mask_shares + key_shares)
    return UnmaskShares(sender, mask_shares, key_shares)


def is_share(blob: bytes) -> bool:
    """Whether ``blob`` is one share of one secret: the right size, every limb below p."""
    if len(blob) != share_blob_size():
        return False
    return bool((np.frombuffer(blob, dtype="<u4") < shamir.PRIME).all())


def _check_share_values(pairs: IdBytes) -> None:
    """Every limb of a revealed share is a field element: refused on receipt, not at the end
    of the round when the honest clients' shares have already been revealed."""
    if pairs:
        _check_limbs(b"".join(blob for _, blob in pairs))


def _check_limbs(*blobs: bytes) -> None:
    """Every little-endian u32 limb of the share ``blobs`` is below p (MalformedMessage)."""
    for blob in blobs:
        if blob and (np.frombuffer(blob, dtype="<u4") >= shamir.PRIME).any():
            raise MalformedMessage("share value outside the field (a limb >= p)")


_DECODERS: dict[type, Callable[[_Reader], object]] = {
    AdvertiseKeys: _dec_advertise,
    SeedCommitments: _dec_seed_commitments,
    SeedReveal: _dec_seed_reveal,
    KeyList: _dec_key_list,
    ShareKeys: _dec_share_keys,
    Bundles: _dec_bundles,
    MaskedInput: _dec_masked,
    Survivors: _dec_survivors,
    ConsistencySignature: _dec_consistency,
    Signatures: _dec_signatures,
    UnmaskShares: _dec_unmask,
}


# --- the round's config -----------------------------------------------------------------------

_CONFIG_FIXED = struct.Struct(">BBQIIII")  # flags, bits, m, t, k (0: complete), D, C


def encode_config(config: SecAggConfig) -> bytes:
    """``magic ‖ version ‖ 0xC0 ‖ len(session) ‖ session ‖ flags ‖ b ‖ m ‖ t ‖ k ‖ D ‖ C ‖ ids``:
    everything a client needs to join the round, for the server to ship."""
    head = MAGIC + bytes((WIRE_VERSION, CONFIG_TYPE))
    session = len(config.session_id).to_bytes(2, "big") + config.session_id
    return head + session + config_fields(config)


def config_fields(config: SecAggConfig) -> bytes:
    """Every parameter of the config but the session id, encoded (for a transport that binds
    them into the session id, so that two parties shown different parameters are in
    different sessions)."""
    fixed = _CONFIG_FIXED.pack(
        int(config.malicious), config.modulus_bits, config.vector_length, config.t,
        0 if config.complete else config.degree, config.max_dropouts, config.max_corrupt,
    )
    ids = np.asarray(config.client_ids, dtype=">u4").tobytes()
    return fixed + _U32.pack(config.num_clients) + ids


def decode_config(data: bytes) -> SecAggConfig:
    """Parse and validate a config: bad bytes or a config that does not validate (unsafe
    parameters included) raise ``MalformedMessage`` with the reason."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedMessage("config must be bytes")
    data = bytes(data)
    head = len(MAGIC) + 4
    if len(data) < head or data[: len(MAGIC)] != MAGIC:
        raise MalformedMessage("bad magic")
    if data[len(MAGIC)] != WIRE_VERSION or data[len(MAGIC) + 1] != CONFIG_TYPE:
        raise MalformedMessage("not a config of this wire version")
    n_session = int.from_bytes(data[len(MAGIC) + 2 : head], "big")
    body = head + n_session
    need = body + _CONFIG_FIXED.size + 4
    if len(data) < need:
        raise MalformedMessage("config is truncated")
    flags, bits, m, t, k, drops, bad = _CONFIG_FIXED.unpack_from(data, body)
    n = _U32.unpack_from(data, body + _CONFIG_FIXED.size)[0]
    if flags > 1 or len(data) != need + 4 * n:
        raise MalformedMessage("config has bad flags or a wrong length")
    ids = np.frombuffer(data, dtype=">u4", count=n, offset=need).tolist()
    try:
        return SecAggConfig(
            client_ids=ids, vector_length=m, threshold=t, modulus_bits=bits,
            neighbors=k or None, malicious=bool(flags), max_dropouts=drops, max_corrupt=bad,
            session_id=data[head:body],
        )
    except ValueError as exc:  # ConfigError, or a bad value numpy refused
        raise MalformedMessage(f"config does not validate: {exc}") from None
