"""Survivor sets that split the graph, and revealed shares outside the field.

A server choosing whose masked inputs count can isolate a group of clients on the public ring of
a sparse graph; unmasking then reveals that group's sum. ``NeighborGraph.connected`` is the test
clients apply before unmasking. Shares with a limb >= p are refused on receipt.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MalformedMessage, SecAggConfig, codec
from protocols.graph import build_graph, shuffled_ids
from protocols.messages import UnmaskShares
from secagg import shamir


def _config(n: int, k: int | None) -> SecAggConfig:
    return SecAggConfig(client_ids=tuple(range(1, n + 1)), vector_length=4, neighbors=k,
                        threshold=2, session_id=b"graph-cut-session")


def test_removing_two_runs_of_half_k_isolates_a_group():
    n, k = 40, 6
    config = _config(n, k)
    ring = shuffled_ids(config.client_ids, config.session_id)
    cut = set(ring[0:3]) | set(ring[9:12])  # k/2 positions either side of ring[3:9]
    graph = build_graph(config)
    survivors = frozenset(config.client_ids) - cut
    assert not graph.connected(survivors)
    assert graph.connected(frozenset(config.client_ids) - set(ring[0:3]))


@given(st.integers(6, 40), st.integers(2, 8), st.data())
@settings(max_examples=60, deadline=None)
def test_fewer_than_k_removed_never_disconnects_a_harary_graph(n, k, data):
    """H_{k,n} is k-connected: any k-1 removals leave it connected (the honest-dropout case)."""
    k = min(k, n - 2)
    config = _config(n, k)
    removed = data.draw(st.sets(st.sampled_from(config.client_ids), max_size=k - 1))
    assert build_graph(config).connected(frozenset(config.client_ids) - removed)


def test_connected_agrees_with_a_component_count():
    config = _config(12, 2)  # a ring: removing two non-adjacent positions splits it
    ring = shuffled_ids(config.client_ids, config.session_id)
    graph = build_graph(config)
    assert not graph.connected(frozenset(config.client_ids) - {ring[0], ring[6]})
    assert graph.connected(frozenset(config.client_ids) - {ring[0], ring[1]})
    assert build_graph(_config(12, None)).connected(frozenset({1, 7}))


def test_unmask_share_with_a_limb_outside_the_field_is_refused_on_receipt():
    config = _config(6, None)
    size = codec.share_blob_size()
    good = (b"\x01\x00\x00\x00" * (size // 4))
    bad = shamir.PRIME.to_bytes(4, "little") + good[4:]
    ok = codec.encode(UnmaskShares(2, ((1, good),), ((3, good),)), config)
    assert codec.decode(ok, config, UnmaskShares).key_shares == ((3, good),)
    for mask, key in ((((1, bad),), ((3, good),)), (((1, good),), ((3, bad),))):
        with pytest.raises(MalformedMessage, match="outside the field"):
            codec.decode(codec.encode(UnmaskShares(2, mask, key), config), config, UnmaskShares)
