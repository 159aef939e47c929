"""Key agreement, share-bundle encryption and signatures: correctness and tampering."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import keys, labels
from secagg.csprng import AesCtrRandom
from secagg.encryption import open_bundle, seal_bundle, sealed_size
from secagg.errors import AuthenticationError, ProtocolViolation, SecAggError
from secagg.keys import (
    BoxKeyPair,
    MaskKeyPair,
    SigningKeyPair,
    pairwise_seed,
    pairwise_seeds,
    verify_signature,
)

SESSION = b"s" * 16
OTHER_SESSION = b"t" * 16


def test_pairwise_seed_is_symmetric_and_bound_to_session_and_ids() -> None:
    a, b = MaskKeyPair.generate(), MaskKeyPair.generate()
    s_ab = pairwise_seed(a, b.public_bytes, SESSION, 3, 7)
    assert s_ab == pairwise_seed(b, a.public_bytes, SESSION, 7, 3)
    assert s_ab != pairwise_seed(a, b.public_bytes, OTHER_SESSION, 3, 7)
    assert s_ab != pairwise_seed(a, b.public_bytes, SESSION, 3, 8)
    assert len(s_ab) == 32


def test_private_bytes_round_trip_rebuilds_the_same_agreement() -> None:
    a, b = MaskKeyPair.generate(), MaskKeyPair.generate()
    a2 = MaskKeyPair.from_private_bytes(a.private_bytes())
    assert a2.public_bytes == a.public_bytes
    assert pairwise_seed(a2, b.public_bytes, SESSION, 1, 2) == pairwise_seed(a, b.public_bytes, SESSION, 1, 2)


def test_low_order_peer_key_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation):
        pairwise_seed(MaskKeyPair.generate(), b"\x00" * 32, SESSION, 1, 2)


def test_seeded_source_makes_keys_reproducible() -> None:
    k1 = MaskKeyPair.generate(AesCtrRandom(b"k" * 32))
    k2 = MaskKeyPair.generate(AesCtrRandom(b"k" * 32))
    assert k1.public_bytes == k2.public_bytes
    assert MaskKeyPair.generate().public_bytes != k1.public_bytes


@pytest.mark.parametrize("cls", [MaskKeyPair, BoxKeyPair, SigningKeyPair])
def test_secret_types_neither_pickle_nor_print_their_secret(cls) -> None:
    key = cls.generate(AesCtrRandom(b"p" * 32))
    secret = AesCtrRandom(b"p" * 32).token_bytes(32)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)
    assert secret.hex() not in repr(key) and secret.hex()[:16] not in repr(key)


def _pair():
    return BoxKeyPair.generate(), BoxKeyPair.generate()


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=300))
def test_bundle_round_trip(payload: bytes) -> None:
    alice, bob = _pair()
    ct = seal_bundle(alice, bob.public_bytes, 1, 2, SESSION, payload)
    assert len(ct) == sealed_size(len(payload), SESSION)
    assert open_bundle(bob, alice.public_bytes, 1, 2, SESSION, ct) == payload


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_rejected(data) -> None:
    alice, bob = _pair()
    ct = bytearray(seal_bundle(alice, bob.public_bytes, 1, 2, SESSION, b"share" * 10))
    i = data.draw(st.integers(0, len(ct) - 1))
    ct[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(AuthenticationError):
        open_bundle(bob, alice.public_bytes, 1, 2, SESSION, bytes(ct))


@pytest.mark.parametrize(
    "sender_id, recipient_id, session",
    [(9, 2, SESSION), (1, 9, SESSION), (1, 2, OTHER_SESSION), (2, 1, SESSION)],
    ids=["wrong-sender", "wrong-recipient", "wrong-session", "swapped-ids"],
)
def test_bundle_bound_to_sender_recipient_session(sender_id, recipient_id, session) -> None:
    alice, bob = _pair()
    ct = seal_bundle(alice, bob.public_bytes, 1, 2, SESSION, b"payload")
    with pytest.raises(AuthenticationError):
        open_bundle(bob, alice.public_bytes, sender_id, recipient_id, session, ct)


def test_bundle_for_someone_else_or_truncated_is_rejected() -> None:
    alice, bob = _pair()
    carol = BoxKeyPair.generate()
    ct = seal_bundle(alice, bob.public_bytes, 1, 2, SESSION, b"payload")
    for attempt in (lambda: open_bundle(carol, alice.public_bytes, 1, 2, SESSION, ct),
                    lambda: open_bundle(bob, carol.public_bytes, 1, 2, SESSION, ct),
                    lambda: open_bundle(bob, alice.public_bytes, 1, 2, SESSION, ct[:20]),
                    lambda: open_bundle(bob, alice.public_bytes, 1, 2, SESSION, b"")):
        with pytest.raises(SecAggError):
            attempt()


def test_signatures_verify_and_bind_label_and_message() -> None:
    key = SigningKeyPair.generate()
    sig = key.sign(labels.CONSISTENCY_SIG, b"U3")
    verify_signature(key.verify_key_bytes, labels.CONSISTENCY_SIG, b"U3", sig)
    bad = [
        (key.verify_key_bytes, labels.ADVERTISE_SIG, b"U3", sig),
        (key.verify_key_bytes, labels.CONSISTENCY_SIG, b"U4", sig),
        (SigningKeyPair.generate().verify_key_bytes, labels.CONSISTENCY_SIG, b"U3", sig),
        (key.verify_key_bytes, labels.CONSISTENCY_SIG, b"U3", sig[:-1] + bytes([sig[-1] ^ 1])),
        (key.verify_key_bytes, labels.CONSISTENCY_SIG, b"U3", sig[:10]),
        (b"\x00" * 5, labels.CONSISTENCY_SIG, b"U3", sig),
    ]
    for args in bad:
        with pytest.raises(AuthenticationError):
            verify_signature(*args)


def test_batched_pairwise_seeds_equal_one_at_a_time() -> None:
    """libsodium's crypto_scalarmult (batch path) and cryptography's exchange agree."""
    me = MaskKeyPair.generate(AesCtrRandom(b"m" * 32))
    rng = AesCtrRandom(b"q" * 32)
    peers = [(v, MaskKeyPair.generate(rng).public_bytes) for v in (1, 2, 9, 40, 1000)]
    want = [pairwise_seed(me, pk, SESSION, 7, v) for v, pk in peers]
    assert pairwise_seeds(me, 7, peers, SESSION) == want
    assert pairwise_seeds(me, 7, [], SESSION) == []


@pytest.mark.parametrize(
    ("peer", "exc"),
    [
        ((3, b"\x00" * 32), ProtocolViolation),  # low-order point
        ((3, (1).to_bytes(32, "little")), ProtocolViolation),  # the order-4 point u = 1
        ((3, b"\x09" * 31), ProtocolViolation),
        ((3, bytearray(32)), ProtocolViolation),
        ((7, MaskKeyPair.generate().public_bytes), ValueError),  # with itself
    ],
)
def test_batched_pairwise_seeds_refuse_bad_peers(peer, exc) -> None:
    me = MaskKeyPair.generate()
    with pytest.raises(exc):
        pairwise_seeds(me, 7, [(1, MaskKeyPair.generate().public_bytes), peer], SESSION)
    if peer[1] in (b"\x00" * 32, (1).to_bytes(32, "little")):
        with pytest.raises(ProtocolViolation):  # the one-at-a-time path refuses the same keys
            pairwise_seed(me, peer[1], SESSION, 7, 3)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_many_boxes_on_threads_equal_one_at_a_time(workers: int) -> None:
    me = BoxKeyPair.generate()
    peers = [BoxKeyPair.generate().public_bytes for _ in range(11)]
    boxes = me.boxes(peers, workers=workers)
    assert [b.shared_key() for b in boxes] == [me.box(pk).shared_key() for pk in peers]
    with pytest.raises(ProtocolViolation):
        me.boxes([*peers, b"x" * 31], workers=workers)
    with pytest.raises(ValueError):
        me.boxes(peers, workers=0)


LOW_ORDER = [bytes(32), bytes([1]) + bytes(31),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
             bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]


@pytest.mark.parametrize("point", LOW_ORDER)
def test_low_order_points_are_refused_by_the_check_and_by_box(point) -> None:
    """RFC 7748 small-order u-coordinates: a typed error, not nacl's bare RuntimeError."""
    with pytest.raises(ProtocolViolation, match="low-order"):
        keys.check_public_point(point)
    with pytest.raises(ProtocolViolation, match="low-order"):
        keys.BoxKeyPair.generate().box(point)


def test_check_public_point_accepts_real_keys_and_refuses_wrong_lengths() -> None:
    keys.check_public_point(keys.BoxKeyPair.generate().public_bytes)
    keys.check_public_point(keys.MaskKeyPair.generate().public_bytes)
    with pytest.raises(ProtocolViolation, match="32 bytes"):
        keys.check_public_point(b"\x09" * 31)


def test_a_non_canonical_public_key_is_refused() -> None:
    """Bit 255 set writes the same X25519 point a second way; such a key is refused so that a
    key rebuilt from shares compares equal to the advertised one."""
    from secagg import keys as k
    from secagg.errors import ProtocolViolation

    public = bytearray(k.MaskKeyPair.generate().public_bytes)
    k.check_public_point(bytes(public))
    public[31] |= 0x80
    with pytest.raises(ProtocolViolation, match="canonical"):
        k.check_public_point(bytes(public))
    with pytest.raises(ProtocolViolation, match="canonical"):  # p itself, bit 255 clear
        k.check_public_point((2**255 - 19).to_bytes(32, "little"))
