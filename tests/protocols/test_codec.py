"""The wire codec: round trips, packed widths, and strict validation of every byte."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MalformedMessage, OutOfOrder, SecAggConfig, WrongSession
from protocols.secagg import codec
from protocols.secagg import messages as messages_mod
from protocols.secagg.messages import (
    AdvertiseKeys,
    Bundles,
    ConsistencySignature,
    KeyEntry,
    KeyList,
    MaskedInput,
    SeedCommitments,
    SeedReveal,
    ShareKeys,
    Signatures,
    Survivors,
    UnmaskShares,
)
from protocols.wire import idset_bytes, known_array
from secagg import shamir
from secagg.prg import dtype_for_bits

IDS = (3, 5, 8, 13, 21, 34)


def _config(bits: int = 32, m: int = 10, malicious: bool = False,
            graph: bool = False) -> SecAggConfig:
    """A complete-graph config, or (``graph``) a malicious SecAgg+ one, whose graph the clients
    seed: its advertisements carry a nonce commitment and its key lists the nonces."""
    sparse = {"neighbors": 4, "max_dropouts": 0, "max_corrupt": 0} if graph else {}
    return SecAggConfig(client_ids=IDS, vector_length=m, modulus_bits=bits, threshold=4,
                        malicious=malicious or graph, session_id=b"codec-session-16", **sparse)


key = st.binary(min_size=32, max_size=32)
sig = st.binary(min_size=64, max_size=64)
some_ids = st.lists(st.sampled_from(IDS), unique=True).map(lambda x: tuple(sorted(x)))


def _pairs(size: int, blob=None):
    blob = st.binary(min_size=size, max_size=size) if blob is None else blob
    return some_ids.flatmap(
        lambda ids: st.tuples(*[blob for _ in ids]).map(
            lambda blobs, ids=ids: tuple(zip(ids, blobs, strict=True))
        )
    )


def _share_blob():
    """A share as the wire carries it: little-endian u32 limbs, each a field element."""
    limbs = codec.share_blob_size() // 4
    return st.lists(st.integers(0, shamir.PRIME - 1), min_size=limbs, max_size=limbs).map(
        lambda xs: b"".join(x.to_bytes(4, "little") for x in xs)
    )


def _share_keys(cfg: SecAggConfig):
    """ShareKeys with the right number of share commitments for its bundles."""
    def build(sender: int, bundles: tuple, data: st.DataObject) -> ShareKeys:
        size = (len(bundles) + 1) * 2 * messages_mod.SHARE_COMMIT_BYTES
        commits = data.draw(st.binary(min_size=size, max_size=size))
        return ShareKeys(sender, bundles, commits, data.draw(key))
    return st.builds(build, st.sampled_from(IDS), _pairs(codec.bundle_size(cfg)), st.data())


def messages(cfg: SecAggConfig):
    cid = st.sampled_from(IDS)
    sig_field = sig if cfg.malicious else st.just(b"")
    commitment = key if cfg.graph_from_clients else st.just(b"")
    nonces = _pairs(16) if cfg.graph_from_clients else st.just(())
    share = codec.share_blob_size()
    return st.one_of(
        st.builds(AdvertiseKeys, cid, key, key, sig_field, commitment),
        some_ids.flatmap(lambda ids: st.tuples(*[
            st.builds(KeyEntry, st.just(i), key, key, sig_field) for i in ids
        ])).flatmap(lambda entries: st.builds(KeyList, st.just(entries), nonces)),
        st.builds(SeedCommitments, key),
        st.builds(SeedReveal, cid, st.binary(min_size=16, max_size=16)),
        _share_keys(cfg),
        st.builds(Bundles, cid, _pairs(codec.routed_bundle_size(cfg))),
        st.builds(Survivors, some_ids, some_ids),
        st.builds(ConsistencySignature, cid, sig),
        st.builds(Signatures, some_ids, some_ids, _pairs(64)),
        st.builds(UnmaskShares, cid, _pairs(share, _share_blob()), st.just(())),
    )


@pytest.mark.parametrize("mode", ["semi-honest", "malicious", "malicious-sparse"])
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_round_trip_and_every_truncation_fails(mode: str, data: st.DataObject) -> None:
    cfg = _config(malicious=mode != "semi-honest", graph=mode == "malicious-sparse")
    msg = data.draw(messages(cfg))
    wire = codec.encode(msg, cfg)
    assert codec.decode(wire, cfg, type(msg)) == msg
    for cut in range(len(wire)):
        with pytest.raises(MalformedMessage):
            codec.decode(wire[:cut], cfg, type(msg))
    with pytest.raises(MalformedMessage):
        codec.decode(wire + b"\x00", cfg, type(msg))


@given(bits=st.integers(8, 64), m=st.integers(1, 300), seed=st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_masked_vectors_travel_packed_at_b_bits(bits: int, m: int, seed: int) -> None:
    cfg = _config(bits, m)
    gen = np.random.default_rng(seed)
    v = gen.integers(0, 2**bits - 1, m, dtype=np.uint64, endpoint=True).astype(dtype_for_bits(bits))
    wire = codec.encode(MaskedInput(5, v), cfg)
    refused = len(idset_bytes((), known_array(cfg)))  # the smaller of an empty list and bitmap
    header = len(codec.MAGIC) + 4 + len(cfg.session_id) + 4 + 1 + 4 + 4 + refused
    assert len(wire) == header + (m * bits + 7) // 8
    back = codec.decode(wire, cfg, MaskedInput)
    assert back.sender == 5 and back.vector.dtype == v.dtype
    np.testing.assert_array_equal(back.vector, v)


def test_header_checks_in_order() -> None:
    cfg = _config()
    wire = codec.encode(ConsistencySignature(3, b"s" * 64), cfg)
    other = SecAggConfig(client_ids=IDS, vector_length=10, threshold=4,
                         session_id=b"another-session!")
    with pytest.raises(WrongSession):
        codec.decode(wire, other, ConsistencySignature)
    with pytest.raises(OutOfOrder):
        codec.decode(wire, cfg, (Survivors, Signatures))
    for bad in (b"SAGX" + wire[4:], wire[:4] + b"\x09" + wire[5:], wire[:5] + b"\x7f" + wire[6:]):
        with pytest.raises(MalformedMessage):
            codec.decode(bad, cfg, ConsistencySignature)


def test_content_is_validated_against_the_round() -> None:
    cfg = SecAggConfig(client_ids=(*IDS, *range(100, 190)), vector_length=10, threshold=4,
                       session_id=b"codec-session-16")  # small sets travel as id lists
    good = codec.encode(Survivors((3, 5), (8,)), cfg)
    unknown = good.replace((8).to_bytes(4, "big"), (9).to_bytes(4, "big"))
    with pytest.raises(MalformedMessage, match="unknown"):
        codec.decode(unknown, cfg, Survivors)
    unsorted = codec.encode(Survivors((3, 5), (8,)), cfg).replace(
        (3).to_bytes(4, "big") + (5).to_bytes(4, "big"), (5).to_bytes(4, "big") + (3).to_bytes(4, "big"))
    with pytest.raises(MalformedMessage, match="increasing"):
        codec.decode(unsorted, cfg, Survivors)
    cfg = _config()
    # a signature where semi-honest mode has none, a 31-byte key, a wrong-width vector
    with pytest.raises(MalformedMessage):
        codec.decode(codec.encode(AdvertiseKeys(3, b"k" * 32, b"l" * 32, b"s" * 64), cfg),
                     cfg, AdvertiseKeys)
    with pytest.raises(MalformedMessage):
        AdvertiseKeys(3, b"k" * 31, b"l" * 32)
    v16 = _config(16)
    with pytest.raises(MalformedMessage):
        codec.decode(codec.encode(MaskedInput(3, np.zeros(10, np.uint32)), v16), cfg, MaskedInput)
    with pytest.raises(MalformedMessage):
        UnmaskShares(3, ((5, b"x"),), ((5, b"y"),))  # both kinds for one client


@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_array_built_bundles_match_the_codec(data: st.DataObject) -> None:
    """The server's array routing writes exactly the bytes of encode(Bundles(...))."""
    cfg = _config()
    msg = data.draw(st.builds(Bundles, st.sampled_from(IDS), _pairs(codec.routed_bundle_size(cfg))))
    senders = np.array([v for v, _ in msg.bundles], dtype=np.int64)
    raw = codec.encode_bundles_raw(msg.recipient, senders, b"".join(c for _, c in msg.bundles), cfg)
    assert raw == codec.encode(msg, cfg)
    if len(senders) > 1:
        with pytest.raises(MalformedMessage):
            codec.encode_bundles_raw(msg.recipient, senders[::-1], b"".join(
                c for _, c in msg.bundles), cfg)
    with pytest.raises(MalformedMessage):
        codec.encode_bundles_raw(msg.recipient, senders, b"x", cfg)


def test_errors_name_the_field_and_the_message_types() -> None:
    """A signature where a semi-honest round has none is named as such; a message of the wrong
    type says which type came and which was expected."""
    cfg = _config()
    wire = codec.encode(AdvertiseKeys(3, b"k" * 32, b"l" * 32), cfg)
    signed = wire[:-8] + (1).to_bytes(4, "big") + b"s" + wire[-4:]  # a 1-byte "signature"
    with pytest.raises(MalformedMessage, match=r"signature \(64 bytes in malicious mode, none "
                                               r"otherwise\) of 1 bytes, expected 0"):
        codec.decode(signed, cfg, AdvertiseKeys)
    with pytest.raises(OutOfOrder, match="type AdvertiseKeys where KeyList or Bundles was"):
        codec.decode(wire, cfg, (KeyList, Bundles))


@given(data=st.data(), n=st.integers(2, 400))
@settings(max_examples=60, deadline=None)
def test_id_sets_travel_as_the_smaller_of_a_list_and_a_bitmap(data, n) -> None:
    """A survivor set of a large round costs n/8 bytes (a bitmap), a small one 4 bytes an id;
    both decode to the same set, and a bitmap with bits past the last client is refused."""
    ids = tuple(range(1, n + 1))
    cfg = SecAggConfig(client_ids=ids, vector_length=1, session_id=b"codec-session-16")
    alive = tuple(sorted(data.draw(st.sets(st.sampled_from(ids)))))
    wire = codec.encode(Survivors(alive, ()), cfg)
    assert codec.decode(wire, cfg, Survivors).alive == alive
    head = len(codec.MAGIC) + 4 + len(cfg.session_id)
    assert len(wire) - head <= 2 * min(4 + 4 * len(alive), (n + 7) // 8) + 2 + 8
    if n % 8 and 4 * len(alive) > (n + 7) // 8:  # a bitmap (the smaller), with padding bits
        bad = bytearray(wire)
        bad[head + (n + 7) // 8] |= 0x80  # the last byte of the alive bitmap
        with pytest.raises(MalformedMessage, match="past the last client"):
            codec.decode(bytes(bad), cfg, Survivors)
