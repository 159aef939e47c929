"""LightSecAgg's wire codec: round trips, strict validation of every byte, the config encoding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.lightsecagg import LightSecAggConfig, codec
from protocols.lightsecagg.messages import (
    AdvertiseKey,
    AggregateReply,
    MaskedInput,
    PublicKeys,
    ShareMasks,
    SubMasks,
    Survivors,
)
from secagg.errors import MalformedMessage, OutOfOrder, SecAggError, WrongSession
from secagg.field import PRIME

IDS = (3, 5, 8, 13, 21, 34, 55)
CFG = LightSecAggConfig(client_ids=IDS, vector_length=17, recovery_threshold=4,
                        privacy_threshold=2, session_id=b"lsa-codec-session")
OTHER = LightSecAggConfig(client_ids=IDS, vector_length=17, recovery_threshold=4,
                          privacy_threshold=2, session_id=b"lsa-other-session")

key = st.binary(min_size=32, max_size=32)
some_ids = st.lists(st.sampled_from(IDS), unique=True).map(lambda x: tuple(sorted(x)))
sealed = st.binary(min_size=codec.sealed_submask_size(CFG), max_size=codec.sealed_submask_size(CFG))


def _pairs(blob):
    return some_ids.flatmap(lambda ids: st.tuples(*[blob for _ in ids]).map(
        lambda blobs, ids=ids: tuple(zip(ids, blobs, strict=True))))


def _vector(n: int):
    return st.lists(st.integers(0, PRIME - 1), min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=np.uint32))


messages = st.one_of(
    st.builds(AdvertiseKey, st.sampled_from(IDS), key),
    st.builds(PublicKeys, _pairs(key)),
    st.builds(ShareMasks, st.sampled_from(IDS), _pairs(sealed)),
    st.builds(SubMasks, st.sampled_from(IDS), _pairs(sealed)),
    st.builds(MaskedInput, st.sampled_from(IDS), _vector(CFG.vector_length), some_ids),
    st.builds(Survivors, some_ids),
    st.builds(AggregateReply, st.sampled_from(IDS), _vector(CFG.piece_length)),
)


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    for name in a.__slots__:  # type: ignore[attr-defined]
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            if not (isinstance(y, np.ndarray) and np.array_equal(x, y) and x.dtype == y.dtype):
                return False
        elif x != y:
            return False
    return True


@given(messages)
@settings(max_examples=200, deadline=None)
def test_round_trip(msg) -> None:
    wire = codec.encode(msg, CFG)
    assert _same(codec.decode(wire, CFG, type(msg)), msg)


@given(messages, st.data())
@settings(max_examples=150, deadline=None)
def test_every_truncation_and_extension_is_refused(msg, data) -> None:
    wire = codec.encode(msg, CFG)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(MalformedMessage):
        codec.decode(wire[:cut], CFG, type(msg))
    with pytest.raises(MalformedMessage):
        codec.decode(wire + b"\x00", CFG, type(msg))


@given(messages, st.data())
@settings(max_examples=150, deadline=None)
def test_any_byte_flip_is_refused_or_decodes_to_a_valid_message(msg, data) -> None:
    """A flipped byte either fails with one of our typed errors or yields a message that passed
    every check (e.g. a different ciphertext byte: the encryption catches that later)."""
    wire = bytearray(codec.encode(msg, CFG))
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] ^= data.draw(st.integers(1, 255))
    try:
        got = codec.decode(bytes(wire), CFG, type(msg))
    except SecAggError:
        return
    assert type(got) is type(msg)


def test_header_errors_are_typed() -> None:
    wire = codec.encode(Survivors((3, 5)), CFG)
    with pytest.raises(WrongSession):
        codec.decode(wire, OTHER, Survivors)
    with pytest.raises(OutOfOrder):
        codec.decode(wire, CFG, SubMasks)
    for at, what in ((0, "magic"), (4, "version"), (5, "type")):
        bad = bytearray(wire)
        bad[at] ^= 0x40
        with pytest.raises(MalformedMessage, match=what):
            codec.decode(bytes(bad), CFG, Survivors)
    with pytest.raises(MalformedMessage):
        codec.decode("not bytes", CFG, Survivors)  # type: ignore[arg-type]


def test_a_secagg_message_never_parses_as_lightsecagg() -> None:
    from protocols.secagg import codec as secagg_codec
    from protocols.secagg.messages import Survivors as SecAggSurvivors

    wire = secagg_codec.encode(SecAggSurvivors((3, 5), ()), CFG)  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage, match="magic"):
        codec.decode(wire, CFG, Survivors)


def test_field_values_and_ids_are_checked() -> None:
    vec = np.zeros(CFG.vector_length, dtype=np.uint32)
    wire = bytearray(codec.encode(MaskedInput(3, vec), CFG))
    start = wire.index(codec.pack_field(vec))
    wire[start : start + 4] = (PRIME).to_bytes(4, "little")  # value p itself: outside the field
    with pytest.raises(MalformedMessage, match="field"):
        codec.decode(bytes(wire), CFG, MaskedInput)
    with pytest.raises(MalformedMessage):
        MaskedInput(3, np.full(3, PRIME, dtype=np.uint32))
    with pytest.raises(MalformedMessage):
        MaskedInput(3, vec.astype(np.uint64))
    with pytest.raises(MalformedMessage):
        Survivors((5, 3))
    unknown = bytearray(codec.encode(Survivors((3, 5)), CFG))
    unknown[-1] = 4  # 5 -> 4: not a client of this round
    with pytest.raises(MalformedMessage, match="unknown"):
        codec.decode(bytes(unknown), CFG, Survivors)
    with pytest.raises(MalformedMessage):
        codec.encode(MaskedInput(3, vec[:-1]), CFG)
    with pytest.raises(TypeError):
        codec.encode(object(), CFG)


def test_sizes_are_as_documented() -> None:
    assert CFG.piece_length == 9  # ⌈17 / (4 - 2)⌉
    assert codec.packed_field_size(17) == (17 * 31 + 7) // 8
    wire = codec.encode(MaskedInput(3, np.zeros(17, dtype=np.uint32)), CFG)
    assert len(wire) == 4 + 2 + 2 + len(CFG.session_id) + 4 + 4 + 66 + 4


@given(st.integers(3, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 2))),
       st.integers(1, 10**6), st.binary(min_size=16, max_size=40))
@settings(max_examples=100, deadline=None)
def test_config_round_trip(shape, m: int, session: bytes) -> None:
    n, u_plus = shape
    u = max(2, u_plus)
    cfg = LightSecAggConfig(client_ids=range(10, 10 + n), vector_length=m,
                            recovery_threshold=min(u, n - 1), privacy_threshold=1,
                            session_id=session)
    wire = cfg.to_bytes()
    assert LightSecAggConfig.from_bytes(wire) == cfg
    for cut in range(len(wire)):
        with pytest.raises(MalformedMessage):
            LightSecAggConfig.from_bytes(wire[:cut])


def test_config_bytes_that_do_not_validate_are_malformed() -> None:
    wire = bytearray(CFG.to_bytes())
    body = 8 + len(CFG.session_id)
    wire[body + 8 + 8 + 4 + 3] = 4  # T = 4 = U: no data piece left
    with pytest.raises(MalformedMessage, match="privacy_threshold"):
        LightSecAggConfig.from_bytes(bytes(wire))
    other_field = bytearray(CFG.to_bytes())
    other_field[body + 7] ^= 0x02  # p = 2^31 - 3
    with pytest.raises(MalformedMessage, match="field"):
        LightSecAggConfig.from_bytes(bytes(other_field))
    with pytest.raises(MalformedMessage):
        LightSecAggConfig.from_bytes(b"SAGG" + bytes(CFG.to_bytes()[4:]))


@given(st.sampled_from(IDS), _pairs(sealed))
@settings(max_examples=100, deadline=None)
def test_the_servers_packed_forms_write_and_read_the_same_bytes(recipient: int, pairs) -> None:
    wire = codec.encode(SubMasks(recipient, pairs), CFG)
    senders = np.array([v for v, _ in pairs], dtype=np.int64)
    raw = codec.encode_submasks_raw(recipient, senders, [memoryview(b) for _, b in pairs], CFG)
    assert raw == wire
    share = codec.encode(ShareMasks(recipient, pairs), CFG)
    packed = codec.decode_packed_share_masks(share, CFG)
    assert packed.sender == recipient and packed.recipients == tuple(int(v) for v in senders)
    assert [bytes(r) for r in packed.rows()] == [b for _, b in pairs]
    for cut in range(0, len(share), 37):
        with pytest.raises(MalformedMessage):
            codec.decode_packed_share_masks(share[:cut], CFG)
    with pytest.raises(OutOfOrder):
        codec.decode_packed_share_masks(wire, CFG)


def test_raw_submask_batches_are_checked() -> None:
    size = codec.sealed_submask_size(CFG)
    blob = bytes(size)
    for senders, blobs in (([5, 3], [blob, blob]), ([4], [blob]), ([3], [blob + b"x"]),
                           ([3, 5], [blob])):
        with pytest.raises(MalformedMessage):
            codec.encode_submasks_raw(3, np.array(senders), blobs, CFG)
    with pytest.raises(MalformedMessage):
        codec.encode_submasks_raw(4, np.array([3]), [blob], CFG)
