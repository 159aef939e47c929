"""Survivor sets that split the graph, and revealed shares outside the field.

A server choosing whose masked inputs count can isolate a group of clients on the public ring of
a sparse graph; unmasking then reveals that group's sum. ``NeighborGraph.connected`` is the test
clients apply before unmasking. Shares with a limb >= p are refused on receipt.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MalformedMessage, ProtocolViolation, SecAggConfig
from protocols.secagg import codec
from protocols.secagg.graph import make_graph, shuffled_ids
from protocols.secagg.messages import AdvertiseKeys, UnmaskShares
from secagg import keys, shamir

from .helpers import Round

SESSION = b"graph-cut-session"


def _ids(n: int) -> tuple[int, ...]:
    return tuple(range(1, n + 1))


def test_removing_two_runs_of_half_k_isolates_a_group():
    n, k = 40, 6
    ring = shuffled_ids(_ids(n), SESSION)
    cut = set(ring[0:3]) | set(ring[9:12])  # k/2 positions either side of ring[3:9]
    graph = make_graph(_ids(n), k, SESSION)
    survivors = frozenset(_ids(n)) - cut
    assert not graph.connected(survivors)
    assert graph.connected(frozenset(_ids(n)) - set(ring[0:3]))


@given(st.integers(6, 40), st.integers(2, 8), st.data())
@settings(max_examples=60, deadline=None)
def test_fewer_than_k_removed_never_disconnects_a_harary_graph(n, k, data):
    """H_{k,n} is k-connected: any k-1 removals leave it connected (the honest-dropout case)."""
    k = min(k, n - 2)
    removed = data.draw(st.sets(st.sampled_from(_ids(n)), max_size=k - 1))
    assert make_graph(_ids(n), k, SESSION).connected(frozenset(_ids(n)) - removed)


def test_connected_agrees_with_a_component_count():
    ring = shuffled_ids(_ids(12), SESSION)  # k = 2, a ring: two non-adjacent removals split it
    graph = make_graph(_ids(12), 2, SESSION)
    assert not graph.connected(frozenset(_ids(12)) - {ring[0], ring[6]})
    assert graph.connected(frozenset(_ids(12)) - {ring[0], ring[1]})
    assert make_graph(_ids(12), None, SESSION).connected(frozenset({1, 7}))


def test_unmask_share_with_a_limb_outside_the_field_is_refused_on_receipt():
    config = SecAggConfig(client_ids=_ids(6), vector_length=4, session_id=SESSION)
    size = codec.share_blob_size()
    good = (b"\x01\x00\x00\x00" * (size // 4))
    bad = shamir.PRIME.to_bytes(4, "little") + good[4:]
    ok = codec.encode(UnmaskShares(2, ((1, good),), ((3, good),)), config)
    assert codec.decode(ok, config, UnmaskShares).key_shares == ((3, good),)
    for mask, key in ((((1, bad),), ((3, good),)), (((1, good),), ((3, bad),))):
        with pytest.raises(MalformedMessage, match="outside the field"):
            codec.decode(codec.encode(UnmaskShares(2, mask, key), config), config, UnmaskShares)


# -- whole rounds driven by hand ---------------------------------------------------------------



def test_an_honest_dropout_that_keeps_the_graph_connected_still_unmasks():
    """(The ring cut itself, within a budget that allows it, is in test_attacks.py.)"""
    config = SecAggConfig.for_secagg_plus(range(1, 101), 4, session_id=SESSION)
    ring = shuffled_ids(config.client_ids, config.session_id)
    r = Round(config)
    r.stage()
    r.stage()
    late = {ring[0], ring[1], ring[20]}  # fewer than k and within D: H_{k,n} stays connected
    r.stage([u for u in config.client_ids if u not in late])
    r.check()


def _advertise(r: Round, u: int, c_pk: bytes, s_pk: bytes) -> bytes:
    return codec.encode(AdvertiseKeys(u, c_pk, s_pk, b""), r.config)


@pytest.mark.parametrize("bad", ["low_order_c", "low_order_s", "same_pair", "copied"])
def test_server_refuses_keys_honest_clients_would_reject_and_the_round_goes_on(bad):
    """One client with a low-order or copied key used to make every honest client refuse the
    key list (or nacl raise a bare RuntimeError); refused at receive, it is just a dropout."""
    config = SecAggConfig(client_ids=tuple(range(1, 7)), vector_length=4, threshold=3,
                          session_id=b"graph-cut-session")
    r = Round(config)
    honest = r.replies([1, 2, 3, 4, 5])
    r.deliver(honest)
    first, own = (codec.decode(honest[u], config, AdvertiseKeys) for u in (1, 3))
    fresh_c, fresh_s = _fresh(own.c_pk), _fresh(own.s_pk)  # valid points nobody advertised
    keys_for = {
        "low_order_c": (bytes(32), fresh_s),
        "low_order_s": (fresh_c, bytes([1]) + bytes(31)),
        "same_pair": (fresh_c, fresh_c),
        "copied": (first.c_pk, fresh_s),
    }
    state_before = dict(r.server._inbox)
    with pytest.raises(ProtocolViolation):
        r.server.receive(6, _advertise(r, 6, *keys_for[bad]))
    assert r.server._inbox == state_before
    r.to_clients = dict(r.server.close_stage())
    assert 6 not in r.to_clients
    r.check()
    assert r.server.included == frozenset({1, 2, 3, 4, 5})


def _fresh(public: bytes) -> bytes:
    """Another canonical encoding (bit 255 clear) of some point: the reversed bytes."""
    flipped = public[::-1]
    return flipped[:31] + bytes([flipped[31] & 0x7F])


def test_reversed_key_bytes_are_still_valid_points_for_the_refusal_tests():
    """The test above flips honest keys to get fresh points; check that premise."""
    for _ in range(20):
        keys.check_public_point(_fresh(keys.BoxKeyPair.generate().public_bytes))


def test_a_key_with_bit_255_set_is_refused_at_advertise():
    """The same point written two ways: the review's F5 got a dropped client's correctly
    rebuilt key refused because its advertised bytes had bit 255 set."""
    config = SecAggConfig(client_ids=_ids(5), vector_length=4, session_id=SESSION)
    r = Round(config)
    own = codec.decode(r.client_step(1), config, AdvertiseKeys)
    odd = own.s_pk[:31] + bytes([own.s_pk[31] | 0x80])
    with pytest.raises(ProtocolViolation, match="canonical"):
        r.server.receive(1, _advertise(r, 1, own.c_pk, odd))
