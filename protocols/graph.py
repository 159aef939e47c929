"""The neighbour graph: complete (SecAgg) or a Harary graph H_{k,n} (SecAgg+).

Every party derives the same graph from the session id and the client list, so nothing is sent.
The sorted client ids are shuffled by a Fisher-Yates shuffle driven by AES-CTR keyed with
``kdf.derive(session_id, GRAPH_SHUFFLE, session_id)``; position i of the shuffled ring is then
joined to positions i±1 … i±⌊k/2⌋. For odd k, H_{k,n} also joins diametrically opposite
positions: i ~ i + n/2 when n is even (k-regular); when n is odd, i ~ i + (n+1)/2 for
0 <= i <= (n-1)/2, so one client gets k + 1 neighbours (Harary's construction). The shuffle makes
each client's neighbourhood a uniformly placed set, which the parameter finder's bounds assume.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from secagg import kdf, labels
from secagg.csprng import AesCtrRandom, randbelow

from .config import SecAggConfig


class NeighborGraph:
    """Read-only adjacency: ``neighbors(u)`` excludes u, ``closed(u)`` includes it."""

    __slots__ = ("_adj", "_ids", "_complete", "_all")

    def __init__(self, ids: Sequence[int], adjacency: dict[int, frozenset[int]] | None) -> None:
        self._ids = tuple(ids)
        self._all = frozenset(ids)
        self._complete = adjacency is None
        self._adj: dict[int, frozenset[int]] = {} if adjacency is None else adjacency

    @property
    def complete(self) -> bool:
        """True for the complete graph (every pair is an edge)."""
        return self._complete

    def neighbors(self, u: int) -> frozenset[int]:
        """The clients u masks with and shares its secrets to (u itself excluded)."""
        if u not in self._all:
            raise KeyError(u)
        if self._complete:
            got = self._adj.get(u)
            if got is None:
                got = self._adj[u] = self._all - {u}
            return got
        return self._adj[u]

    def closed(self, u: int) -> frozenset[int]:
        """N[u] = N(u) ∪ {u}: every holder of a share of u's secrets."""
        return self.neighbors(u) | {u}

    def components(self, nodes: frozenset[int]) -> tuple[frozenset[int], ...]:
        """The connected components of the graph restricted to ``nodes``.

        The server's unmasked result is the sum over each component of the survivors (pairwise
        masks cancel inside a component), so a survivor set that splits the graph reveals the
        sums of the parts: a client refuses to unmask for one.
        """
        if self._complete or not nodes:
            return (nodes,) if nodes else ()
        todo_nodes, out = set(nodes), []
        while todo_nodes:
            start = todo_nodes.pop()
            part, todo = {start}, [start]
            while todo:
                for v in self._adj[todo.pop()] & todo_nodes:
                    todo_nodes.discard(v)
                    part.add(v)
                    todo.append(v)
            out.append(frozenset(part))
        return tuple(out)

    def connected(self, nodes: frozenset[int]) -> bool:
        """Whether the graph restricted to ``nodes`` is connected (see :meth:`components`)."""
        return len(self.components(nodes)) <= 1


def build_graph(config: SecAggConfig) -> NeighborGraph:
    """The graph of this round (cached: all parties in one process share one copy)."""
    return _build(config.client_ids, config.neighbors, config.session_id)


@lru_cache(maxsize=16)
def _build(ids: tuple[int, ...], k: int | None, session_id: bytes) -> NeighborGraph:
    n = len(ids)
    if k is None or k >= n - 1:
        return NeighborGraph(ids, None)
    ring = shuffled_ids(ids, session_id)
    adjacency: dict[int, set[int]] = {u: set() for u in ids}
    for i, j in harary_edges(k, n):
        adjacency[ring[i]].add(ring[j])
        adjacency[ring[j]].add(ring[i])
    return NeighborGraph(ids, {u: frozenset(vs) for u, vs in adjacency.items()})


def survivor_component(config: SecAggConfig, alive: tuple[int, ...], u: int) -> frozenset[int]:
    """The component of u in this round's graph restricted to the survivor set U3 (cached per
    U3, so clients simulated in one process walk the graph once)."""
    for part in _components(config.client_ids, config.neighbors, config.session_id, alive):
        if u in part:
            return part
    raise KeyError(u)


@lru_cache(maxsize=16)
def _components(
    ids: tuple[int, ...], k: int | None, session_id: bytes, alive: tuple[int, ...]
) -> tuple[frozenset[int], ...]:
    return _build(ids, k, session_id).components(frozenset(alive))


def shuffled_ids(ids: Sequence[int], session_id: bytes) -> list[int]:
    """The sorted ids permuted by a Fisher-Yates shuffle keyed from the session id."""
    key = kdf.derive(session_id, labels.GRAPH_SHUFFLE, session_id)
    rng = AesCtrRandom(seed=key)
    order = sorted(ids)
    for i in range(len(order) - 1, 0, -1):
        j = randbelow(rng, i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def harary_edges(k: int, n: int) -> set[tuple[int, int]]:
    """Edges (i, j), i < j, of the Harary graph H_{k,n} on ring positions 0..n-1."""
    if not 1 <= k < n:
        raise ValueError(f"Harary degree k must be in [1, n-1], got k={k}, n={n}")
    edges: set[tuple[int, int]] = set()

    def add(i: int, j: int) -> None:
        i, j = i % n, j % n
        if i != j:
            edges.add((min(i, j), max(i, j)))

    for i in range(n):
        for step in range(1, k // 2 + 1):
            add(i, i + step)
    if k % 2 == 1:
        if n % 2 == 0:
            for i in range(n // 2):
                add(i, i + n // 2)
        else:
            for i in range((n - 1) // 2 + 1):
                add(i, i + (n + 1) // 2)
    return edges
