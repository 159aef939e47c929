"""The lazy Harary graph equals the adjacency built edge by edge from ``harary_edges``.

``NeighborGraph`` holds only the shuffled ring and derives each neighbourhood on demand; these
tests pin it to the reference construction (every edge of H_{k,n} mapped through the shuffle),
including Harary's odd-k rules and the wrap-around cases where k is close to n.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.secagg import graph as graph_module
from protocols.secagg.graph import harary_edges, make_graph, shuffled_ids


def _reference(ids: list[int], k: int, seed: bytes, session: bytes) -> dict[int, frozenset[int]]:
    """The adjacency of H_{k,n} over the shuffled ring, built from its full edge set."""
    ring = shuffled_ids(sorted(ids), seed, session)
    adj: dict[int, set[int]] = {u: set() for u in ids}
    for i, j in harary_edges(k, len(ids)):
        adj[ring[i]].add(ring[j])
        adj[ring[j]].add(ring[i])
    return {u: frozenset(vs) for u, vs in adj.items()}


def _reference_components(
    adj: dict[int, frozenset[int]], nodes: frozenset[int]
) -> set[frozenset[int]]:
    """Connected components of ``adj`` restricted to ``nodes``, by plain BFS."""
    seen: set[int] = set()
    parts = set()
    for start in nodes:
        if start in seen:
            continue
        part, todo = {start}, [start]
        while todo:
            for v in adj[todo.pop()]:
                if v in nodes and v not in part:
                    part.add(v)
                    todo.append(v)
        seen |= part
        parts.add(frozenset(part))
    return parts


@st.composite
def _rosters(draw: st.DrawFn) -> tuple[list[int], int]:
    """Distinct client ids (n in [2, 300], given unsorted) and a degree k in [1, n-1]."""
    n = draw(st.integers(2, 300))
    base, stride = draw(st.integers(1, 10_000)), draw(st.integers(1, 7))
    ids = draw(st.permutations(range(base, base + stride * n, stride)))
    return list(ids), draw(st.integers(1, n - 1))


@given(
    roster=_rosters(),
    seed=st.binary(min_size=16, max_size=16),
    session=st.none() | st.binary(min_size=16, max_size=16),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_lazy_graph_matches_harary_edges(
    roster: tuple[list[int], int], seed: bytes, session: bytes | None, data: st.DataObject
) -> None:
    ids, k = roster
    graph = make_graph(tuple(ids), k, seed, session)
    ref = _reference(ids, k, seed, seed if session is None else session)
    assert {u: graph.neighbors(u) for u in ids} == ref
    assert all(graph.closed(u) == ref[u] | {u} for u in ids)
    for _ in range(3):
        nodes = frozenset(data.draw(st.sets(st.sampled_from(ids), max_size=len(ids))))
        parts = graph.components(nodes)
        assert set(parts) == _reference_components(ref, nodes) and len(parts) == len(set(parts))
        assert graph.connected(nodes) == (len(parts) <= 1)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8, 9, 10, 11])
def test_every_small_case_matches(n: int) -> None:
    """All k for small n, where ring offsets and diametric partners wrap onto each other."""
    ids = list(range(1, n + 1))
    for k in range(1, n):
        graph = make_graph(tuple(ids), k, b"w" * 16)
        assert {u: graph.neighbors(u) for u in ids} == _reference(ids, k, b"w" * 16, b"w" * 16)


def test_neighbour_cache_is_bounded_and_answers_stay_exact() -> None:
    ids = list(range(1, graph_module._NEIGHBOR_CACHE + 1001))
    graph = make_graph(tuple(ids), 5, b"c" * 16)
    first = {u: graph.neighbors(u) for u in ids}
    assert len(graph._adj) <= graph_module._NEIGHBOR_CACHE
    assert {u: graph.neighbors(u) for u in reversed(ids)} == first
    assert first == _reference(ids, 5, b"c" * 16, b"c" * 16)
    assert graph.connected(frozenset(ids))


def test_unknown_client_raises_key_error() -> None:
    graph = make_graph(tuple(range(1, 50)), 4, b"k" * 16)
    with pytest.raises(KeyError):
        graph.neighbors(99)
    with pytest.raises(KeyError):
        graph.closed(0)


def test_shuffle_is_pinned() -> None:
    """The shuffle is protocol-defined (all parties must agree): pin its output bytes."""
    ring = shuffled_ids(range(1, 1001), b"s" * 16)
    seeded = shuffled_ids(range(1, 1001), b"S" * 32, b"s" * 16)
    assert ring[:5] == _RING_HEAD
    assert _digest(ring) == _RING_DIGEST and _digest(seeded) == _SEEDED_DIGEST


def _digest(ring: list[int]) -> str:
    return hashlib.sha256(b"".join(u.to_bytes(4, "big") for u in ring)).hexdigest()


_RING_HEAD = [827, 760, 471, 391, 622]
_RING_DIGEST = "8956e27ec5fcda8450990eae8f8faa164abbfe6471e0860701c73f45a250cf94"
_SEEDED_DIGEST = "221bba82b3e27ec8924a752436e08deedb91599cfc1705dd53be28d635541057"
