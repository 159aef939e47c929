"""Neighbour graphs: Harary structure, determinism from the session, and complete fallback."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.secagg.config import SecAggConfig
from protocols.secagg.graph import _build, build_graph, harary_edges, make_graph, shuffled_ids


def _graph(n: int, k: int | None, session: bytes = b"g" * 16):
    return make_graph(tuple(range(1, n + 1)), k, session)


def _connected_without(adj: dict[int, frozenset[int]], removed: set[int]) -> bool:
    nodes = [u for u in adj if u not in removed]
    seen, todo = {nodes[0]}, [nodes[0]]
    while todo:
        for v in adj[todo.pop()] - removed:
            if v not in seen:
                seen.add(v)
                todo.append(v)
    return len(seen) == len(nodes)


@given(n=st.integers(3, 40), data=st.data())
@settings(max_examples=60, deadline=None)
def test_harary_degrees_and_symmetry(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, n - 1))
    g = _graph(n, k)
    adj = {u: g.neighbors(u) for u in range(1, n + 1)}
    for u, vs in adj.items():
        assert u not in vs and g.closed(u) == vs | {u}
        assert all(u in adj[v] for v in vs)
    degrees = Counter(len(vs) for vs in adj.values())
    if k >= n - 1:
        assert degrees == {n - 1: n}
    elif k % 2 == 1 and n % 2 == 1:
        assert degrees == {k: n - 1, k + 1: 1}  # Harary's odd-odd construction
    else:
        assert degrees == {k: n}


@pytest.mark.parametrize(("n", "k"), [(9, 2), (10, 3), (11, 4), (12, 5), (13, 3)])
def test_harary_is_k_connected(n: int, k: int) -> None:
    """Removing any k-1 clients leaves H_{k,n} connected (Harary's theorem), checked by brute force."""
    from itertools import combinations

    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in harary_edges(k, n):
        adj[i].add(j)
        adj[j].add(i)
    frozen = {u: frozenset(v) for u, v in adj.items()}
    for removed in combinations(range(n), k - 1):
        assert _connected_without(frozen, set(removed))


def test_every_party_derives_the_same_graph_and_sessions_differ() -> None:
    a = SecAggConfig.for_secagg_plus(range(1, 201), 1, session_id=b"A" * 16)
    first = {u: build_graph(a).neighbors(u) for u in a.client_ids}
    _build.cache_clear()
    again = {u: build_graph(a).neighbors(u) for u in a.client_ids}
    assert first == again and first == {u: _graph(200, a.neighbors, b"A" * 16).neighbors(u)
                                         for u in a.client_ids}
    b = SecAggConfig.for_secagg_plus(range(1, 201), 1, session_id=b"B" * 16)
    assert {u: build_graph(b).neighbors(u) for u in b.client_ids} != first
    seeded = {u: build_graph(a, b"S" * 32).neighbors(u) for u in a.client_ids}
    assert seeded != first  # malicious SecAgg+ places clients by the clients' seed


def test_shuffle_is_a_permutation_that_depends_on_the_session() -> None:
    ids = list(range(1, 200))
    p1, p2 = shuffled_ids(ids, b"x" * 16), shuffled_ids(ids, b"y" * 16)
    assert sorted(p1) == ids and sorted(p2) == ids and p1 != p2 and p1 != ids


def test_complete_graph() -> None:
    cfg = SecAggConfig(client_ids=range(1, 8), vector_length=1, session_id=b"g" * 16)
    g = build_graph(cfg)
    assert g.complete and all(g.neighbors(u) == set(cfg.client_ids) - {u} for u in cfg.client_ids)
    with pytest.raises(KeyError):
        g.neighbors(99)
