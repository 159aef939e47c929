"""LightSecAgg's wire format: SecAgg's framing with its own magic and type codes.

``magic "LSAG" ‖ version ‖ type ‖ len(session) ‖ session ‖ fields``, the fields written and read
by :mod:`protocols.wire`'s length-checked writer and reader (u32 ids and lengths, lists of
(id, blob) pairs of one fixed size). The magic differs from SecAgg's, so a message of one
protocol never parses as the other's. Vectors of field elements travel packed at 31 bits per
value and are refused unless every value is below p. ``decode`` checks magic, version and type
(``MalformedMessage``), the session (``WrongSession``), that the type is the one expected now
(``OutOfOrder``), then every length, id and range before it builds the message; trailing bytes
are an error too.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

import numpy as np

from protocols.checks import KEY_BYTES
from protocols.wire import Reader, Writer, header, open_message
from secagg import bitpack, encryption, labels
from secagg.errors import MalformedMessage
from secagg.field import PRIME

from .config import LightSecAggConfig
from .messages import (
    AdvertiseKey,
    AggregateReply,
    MaskedInput,
    PackedShareMasks,
    PublicKeys,
    ShareMasks,
    SubMasks,
    Survivors,
)

MAGIC = b"LSAG"
FIELD_BITS = 31  # every element of GF(2^31 - 1) fits in 31 bits
_U32 = struct.Struct(">I")

TYPE_CODES: dict[type, int] = {
    AdvertiseKey: 0x11,
    ShareMasks: 0x12,
    MaskedInput: 0x13,
    AggregateReply: 0x14,
    PublicKeys: 0x91,
    SubMasks: 0x92,
    Survivors: 0x93,
}
_Reader = Reader[LightSecAggConfig]
CONFIG_TYPE = 0xC1  # a LightSecAggConfig (see encode_config)
_TYPES = {code: cls for cls, code in TYPE_CODES.items()}


def packed_field_size(length: int) -> int:
    """Bytes of ``length`` field elements packed at 31 bits each."""
    return bitpack.packed_size(length, FIELD_BITS)


def submask_payload_size(config: LightSecAggConfig) -> int:
    """Plaintext bytes of one sealed sub-mask: the label, then L packed field elements."""
    return len(labels.LIGHTSECAGG_SUBMASK) + packed_field_size(config.piece_length)


def sealed_submask_size(config: LightSecAggConfig) -> int:
    """Ciphertext bytes of one sealed sub-mask (a share bundle's framing around it)."""
    return encryption.sealed_size(submask_payload_size(config), config.session_id)


def pack_field(values: np.ndarray) -> bytes:
    """Field elements (each < p) packed at 31 bits."""
    return bitpack.pack_bits(values, FIELD_BITS)


def unpack_field(data: bytes, length: int, what: str) -> np.ndarray:
    """Inverse of :func:`pack_field`; ``MalformedMessage`` on a wrong size or a value >= p."""
    values = bitpack.unpack_bits(data, FIELD_BITS, length)  # uint32
    if values.size and int(values.max()) >= PRIME:
        raise MalformedMessage(f"{what} holds a value outside the field (>= p)")
    return values


# --- encoding ---------------------------------------------------------------------------------


def encode(message: object, config: LightSecAggConfig) -> bytes:
    """The wire bytes of ``message`` in this round."""
    code = TYPE_CODES.get(type(message))
    if code is None:
        raise TypeError(f"not a LightSecAgg message: {type(message).__name__}")
    w = Writer()
    w.parts.append(header(MAGIC, labels.VERSION, code, config.session_id))
    _ENCODERS[type(message)](w, message, config)
    return b"".join(w.parts)


def encode_submasks_raw(
    recipient: int, senders: np.ndarray, blobs: Sequence[bytes | memoryview],
    config: LightSecAggConfig,
) -> bytes:
    """The wire bytes of ``SubMasks(recipient, zip(senders, blobs))`` from an id array and
    bytes-like blobs (views are fine: they are copied once, into the message): the same bytes
    as :func:`encode`, after the same checks (known ids, increasing, sizes)."""
    size = sealed_submask_size(config)
    ids = np.asarray(senders, dtype=np.int64)
    known = np.asarray(config.client_ids, dtype=np.int64)
    pos = np.searchsorted(known, ids)
    if (
        ids.ndim != 1
        or recipient not in config.client_ids
        or (ids.size and (pos.max() >= known.size or not np.array_equal(known[pos], ids)))
        or np.any(np.diff(ids) <= 0)
        or len(blobs) != ids.size
        or any(len(b) != size for b in blobs)
    ):
        raise MalformedMessage("sub-mask batch: unknown, unsorted or mis-sized entries")
    return b"".join((
        MAGIC, bytes((labels.VERSION, TYPE_CODES[SubMasks])),
        len(config.session_id).to_bytes(2, "big"), config.session_id, _U32.pack(recipient),
        _U32.pack(ids.size), ids.astype(">u4").tobytes(), _U32.pack(size), *blobs,
    ))


def _enc_advertise(w: Writer, m: AdvertiseKey, config: LightSecAggConfig) -> None:
    w.u32(m.sender)
    w.blob(m.c_pk)


def _enc_public_keys(w: Writer, m: PublicKeys, config: LightSecAggConfig) -> None:
    w.pairs(m.keys, KEY_BYTES)


def _enc_share_masks(w: Writer, m: ShareMasks, config: LightSecAggConfig) -> None:
    w.u32(m.sender)
    w.pairs(m.sealed, sealed_submask_size(config))


def _enc_submasks(w: Writer, m: SubMasks, config: LightSecAggConfig) -> None:
    w.u32(m.recipient)
    w.pairs(m.sealed, sealed_submask_size(config))


def _enc_masked(w: Writer, m: MaskedInput, config: LightSecAggConfig) -> None:
    if len(m.vector) != config.vector_length:
        raise MalformedMessage("masked vector has the wrong length")
    w.u32(m.sender)
    w.blob(pack_field(m.vector))
    w.ids(m.refused)


def _enc_survivors(w: Writer, m: Survivors, config: LightSecAggConfig) -> None:
    w.ids(m.alive)


def _enc_reply(w: Writer, m: AggregateReply, config: LightSecAggConfig) -> None:
    if len(m.vector) != config.piece_length:
        raise MalformedMessage("aggregate reply has the wrong length")
    w.u32(m.sender)
    w.blob(pack_field(m.vector))


_ENCODERS: dict[type, Callable[..., None]] = {
    AdvertiseKey: _enc_advertise,
    PublicKeys: _enc_public_keys,
    ShareMasks: _enc_share_masks,
    SubMasks: _enc_submasks,
    MaskedInput: _enc_masked,
    Survivors: _enc_survivors,
    AggregateReply: _enc_reply,
}


# --- decoding ---------------------------------------------------------------------------------

M = TypeVar("M")


def decode(data: bytes, config: LightSecAggConfig, expected: type[M]) -> M:
    """Parse and fully validate ``data``; the result is a message of type ``expected``."""
    cls, reader = _open(data, config, (expected,))
    message = _DECODERS[cls](reader, config)
    reader.end()
    return cast(M, message)


def decode_packed_share_masks(data: bytes, config: LightSecAggConfig) -> PackedShareMasks:
    """Decode a ``ShareMasks`` message, with the same checks, into its packed server-side form."""
    _, r = _open(data, config, (ShareMasks,))
    sender = r.cid()
    size = sealed_submask_size(config)
    recipients, blob = r.packed(size)
    r.end()
    return PackedShareMasks(sender, recipients, blob, size)


def _open(data: object, config: LightSecAggConfig, expected: tuple[type, ...]
          ) -> tuple[type, Reader[LightSecAggConfig]]:
    return open_message(data, MAGIC, labels.VERSION, _TYPES, config, expected)


def _dec_advertise(r: _Reader, config: LightSecAggConfig) -> AdvertiseKey:
    sender = r.cid()
    return AdvertiseKey(sender, r.blob((KEY_BYTES,), "c_pk"))


def _dec_public_keys(r: _Reader, config: LightSecAggConfig) -> PublicKeys:
    return PublicKeys(r.pairs(KEY_BYTES))


def _dec_share_masks(r: _Reader, config: LightSecAggConfig) -> ShareMasks:
    sender = r.cid()
    return ShareMasks(sender, r.pairs(sealed_submask_size(config)))


def _dec_submasks(r: _Reader, config: LightSecAggConfig) -> SubMasks:
    recipient = r.cid()
    return SubMasks(recipient, r.pairs(sealed_submask_size(config)))


def _dec_masked(r: _Reader, config: LightSecAggConfig) -> MaskedInput:
    sender = r.cid()
    m = config.vector_length
    packed = r.blob((packed_field_size(m),), "packed masked vector")
    return MaskedInput(sender, unpack_field(packed, m, "masked vector"), r.ids())


def _dec_survivors(r: _Reader, config: LightSecAggConfig) -> Survivors:
    return Survivors(r.ids())


def _dec_reply(r: _Reader, config: LightSecAggConfig) -> AggregateReply:
    sender = r.cid()
    size = config.piece_length
    packed = r.blob((packed_field_size(size),), "packed aggregate reply")
    return AggregateReply(sender, unpack_field(packed, size, "aggregate reply"))


_DECODERS: dict[type, Callable[[_Reader, LightSecAggConfig], object]] = {
    AdvertiseKey: _dec_advertise,
    PublicKeys: _dec_public_keys,
    ShareMasks: _dec_share_masks,
    SubMasks: _dec_submasks,
    MaskedInput: _dec_masked,
    Survivors: _dec_survivors,
    AggregateReply: _dec_reply,
}


# --- the round's config -----------------------------------------------------------------------

_CONFIG_FIXED = struct.Struct(">QQIIIIII")  # p, m, U, T, D, C, s, b


def encode_config(config: LightSecAggConfig) -> bytes:
    """``magic ‖ version ‖ 0xC1 ‖ len(session) ‖ session ‖ p ‖ m ‖ U ‖ T ‖ D ‖ C ‖ s ‖ b ‖ ids``:
    everything a client needs to join the round, the field included, for the server to ship."""
    head = MAGIC + bytes((labels.VERSION, CONFIG_TYPE))
    fixed = _CONFIG_FIXED.pack(
        config.modulus, config.vector_length, config.U, config.T, config.max_dropouts, config.max_corrupt,
        config.spare_replies, config.input_bits,
    )
    ids = np.asarray(config.client_ids, dtype=">u4").tobytes()
    session = len(config.session_id).to_bytes(2, "big") + config.session_id
    return b"".join((head, session, fixed, _U32.pack(config.num_clients), ids))


def decode_config(data: bytes) -> LightSecAggConfig:
    """Parse and validate a config: bad bytes or a config that does not validate (unsafe
    parameters included) raise ``MalformedMessage`` with the reason."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedMessage("config must be bytes")
    data = bytes(data)
    head = len(MAGIC) + 4
    if len(data) < head or data[: len(MAGIC)] != MAGIC:
        raise MalformedMessage("bad magic")
    if data[len(MAGIC)] != labels.VERSION or data[len(MAGIC) + 1] != CONFIG_TYPE:
        raise MalformedMessage("not a LightSecAgg config of this wire version")
    body = head + int.from_bytes(data[len(MAGIC) + 2 : head], "big")
    need = body + _CONFIG_FIXED.size + 4
    if len(data) < need:
        raise MalformedMessage("config is truncated")
    prime, m, u, t, drops, bad, spare, bits = _CONFIG_FIXED.unpack_from(data, body)
    n = _U32.unpack_from(data, body + _CONFIG_FIXED.size)[0]
    if prime != PRIME:
        raise MalformedMessage(f"config names the field GF({prime}); only GF(2^31 - 1) is known")
    if len(data) != need + 4 * n:
        raise MalformedMessage("config has a wrong length")
    ids = np.frombuffer(data, dtype=">u4", count=n, offset=need).tolist()
    try:
        return LightSecAggConfig(
            client_ids=ids, vector_length=m, recovery_threshold=u, privacy_threshold=t,
            max_dropouts=drops, max_corrupt=bad, spare_replies=spare, input_bits=bits,
            session_id=data[head:body],
        )
    except ValueError as exc:  # ConfigError, or a bad value numpy refused
        raise MalformedMessage(f"config does not validate: {exc}") from None
