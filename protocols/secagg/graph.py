"""The neighbour graph: complete (SecAgg) or a Harary graph H_{k,n} (SecAgg+).

Every party derives the same graph from a seed and the client list, so the graph itself is never
sent. The sorted client ids are shuffled by a Fisher-Yates shuffle driven by AES-CTR keyed with
``kdf.derive(seed, GRAPH_SHUFFLE, session_id)``; position i of the shuffled ring is then joined
to positions i±1 … i±⌊k/2⌋. For odd k, H_{k,n} also joins diametrically opposite positions:
i ~ i + n/2 when n is even (k-regular); when n is odd, i ~ i + (n+1)/2 for 0 <= i <= (n-1)/2,
so one client gets k + 1 neighbours (Harary's construction). The shuffle makes each client's
neighbourhood a uniformly placed set, which the parameter finder's bounds assume.

Where the seed comes from decides who could bias the graph:

- Semi-honest rounds use the session id, which the (honest) server draws at random.
- Malicious SecAgg+ rounds cannot: a server choosing the session id could try ids until a chosen
  client's neighbourhood is crowded with the corrupt clients it controls. There every client
  commits to a fresh 16-byte nonce in its signed advertisement; the server announces the digest
  of all commitments; only then do the clients reveal their nonces, and the seed is the digest of
  every nonce (:func:`graph_seed`). Each client checks, before it shares anything, that the
  revealed nonces open exactly the commitments it was shown and include its own. The server fixed
  every other nonce before seeing this client's, so each honest client's graph is uniformly
  random whatever the server does; a client that committed but does not reveal aborts the round
  (excluding it would give the server a choice of graphs). What the server keeps is the power to
  abort and start over: each new round is one fresh uniform graph, and the finder's 2^-40 bounds
  hold per round. Clients sign the seed in the consistency check, so honest neighbours agree on
  the graph they used.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from protocols.wire import IdSet, evict_oldest
from secagg import commit, kdf, labels
from secagg.csprng import AesCtrRandom, randbelow

from .config import SecAggConfig


class NeighborGraph:
    """Read-only adjacency: ``neighbors(u)`` excludes u, ``closed(u)`` includes it.

    Three forms: complete (``adjacency`` None), an explicit ``adjacency`` dict, or a Harary ring
    (``harary``), which holds only the shuffled ring and derives each neighbourhood on demand,
    so a SecAgg+ graph costs O(n) memory instead of n frozensets of k ids.
    """

    __slots__ = ("_adj", "_ids", "_complete", "_all", "_harary")

    def __init__(
        self,
        ids: Sequence[int],
        adjacency: dict[int, frozenset[int]] | None,
        *,
        harary: _HararyRing | None = None,
    ) -> None:
        self._ids = tuple(ids)
        self._harary = harary
        self._all = frozenset() if harary is not None else frozenset(ids)
        self._complete = adjacency is None and harary is None
        # complete or Harary: a cache of neighbourhoods; explicit: the adjacency itself
        self._adj: dict[int, frozenset[int]] = {} if adjacency is None else adjacency

    @property
    def complete(self) -> bool:
        """True for the complete graph (every pair is an edge)."""
        return self._complete

    def neighbors(self, u: int) -> frozenset[int]:
        """The clients u masks with and shares its secrets to (u itself excluded)."""
        got = self._adj.get(u)
        if got is not None:
            return got
        if self._harary is not None:
            return self._cache(u, self._harary.neighbors(u))
        if u not in self._all:
            raise KeyError(u)
        if self._complete:
            return self._cache(u, self._all - {u})
        return self._adj[u]

    def _cache(self, u: int, nbrs: frozenset[int]) -> frozenset[int]:
        """Keep a derived neighbourhood; the Harary cache is emptied when full, so it stays
        bounded (clearing is O(1) amortised and safe under concurrent callers)."""
        if self._harary is not None and len(self._adj) >= _NEIGHBOR_CACHE:
            self._adj.clear()
        self._adj[u] = nbrs
        return nbrs

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
                for v in _unvisited(self.neighbors(todo.pop()), todo_nodes):
                    todo_nodes.discard(v)
                    part.add(v)
                    todo.append(v)
            out.append(frozenset(part))
        return tuple(out)

    def connected(self, nodes: frozenset[int]) -> bool:
        """Whether the graph restricted to ``nodes`` is connected (see :meth:`components`)."""
        return len(self.components(nodes)) <= 1


def _unvisited(nbrs: frozenset[int], todo: set[int]) -> list[int]:
    """The neighbours still in ``todo``, found by k lookups: ``nbrs & todo`` would walk todo's
    table once todo holds fewer than k ids, and that table never shrinks as the walk empties it
    (~100 µs per node at n = 1e5)."""
    return [v for v in nbrs if v in todo]


_NEIGHBOR_CACHE = 4096  # Harary neighbourhoods kept per graph (~10 MB at k = 46)


class _HararyRing:
    """H_{k,n} over the shuffled ring, by position: O(n) to hold, O(k) per neighbourhood.

    Gives exactly the adjacency of :func:`harary_edges` mapped through the ring, without
    building its n·k/2 edges.
    """

    __slots__ = ("_ring", "_pos", "_n", "_offsets", "_odd_odd")

    def __init__(self, ring: Sequence[int], k: int) -> None:
        n = len(ring)
        _check_degree(k, n)
        self._ring = tuple(ring)
        self._pos = {u: i for i, u in enumerate(self._ring)}
        self._n = n
        self._offsets = _offsets(k, n)
        self._odd_odd = k % 2 == 1 and n % 2 == 1

    def neighbors(self, u: int) -> frozenset[int]:
        """The ids at the ring positions joined to u's (KeyError if u is not on the ring)."""
        i, n, ring = self._pos[u], self._n, self._ring
        near = [ring[(i + d) % n] for d in self._offsets]
        if self._odd_odd:
            near.extend(ring[j] for j in _odd_partners(i, n))
        return frozenset(near)


def _offsets(k: int, n: int) -> tuple[int, ...]:
    """The ring offsets every position is joined by: ±1 … ±⌊k/2⌋, plus n/2 for odd k and even n
    (taken mod n and deduplicated, so offsets that wrap onto one position count once)."""
    steps = {d % n for step in range(1, k // 2 + 1) for d in (step, -step)}
    if k % 2 == 1 and n % 2 == 0:
        steps.add(n // 2)
    return tuple(sorted(steps - {0}))


def _odd_partners(i: int, n: int) -> list[int]:
    """Diametric partners of position i for odd k and odd n: Harary joins i ~ i + (n+1)/2 for
    0 <= i <= (n-1)/2, so i is the low end of one such edge, the high end of one, or (i = 0) both."""
    half, reach = (n - 1) // 2, (n + 1) // 2
    ends = [(i + reach) % n] if i <= half else []
    low = (i - reach) % n
    if low <= half:
        ends.append(low)
    return [j for j in ends if j != i]


GRAPH_NONCE_BYTES = 16


def build_graph(config: SecAggConfig, seed: bytes | None = None) -> NeighborGraph:
    """The graph of this round from ``seed`` (default: the session id; malicious SecAgg+ passes
    the clients' :func:`graph_seed`). Cached: all parties in one process share one copy, found
    by the identity of the config's id tuple (hashing n ids per client would be O(n²))."""
    seed = config.session_id if seed is None else seed
    ids = config.client_ids
    key = (id(ids), config.neighbors, seed, config.session_id)
    got = _BY_ROSTER.get(key)
    if got is None or got[0] is not ids:
        if len(_BY_ROSTER) >= 16:
            evict_oldest(_BY_ROSTER)
        got = _BY_ROSTER[key] = (ids, make_graph(ids, config.neighbors, seed, config.session_id))
    return got[1]


_BY_ROSTER: dict[tuple[int, int | None, bytes, bytes], tuple[tuple[int, ...], NeighborGraph]] = {}


def make_graph(
    ids: tuple[int, ...], k: int | None, seed: bytes, session_id: bytes | None = None
) -> NeighborGraph:
    """H_{k,n} over the sorted ``ids`` placed by ``seed`` (complete when k is None or n - 1)."""
    return _build(tuple(sorted(ids)), k, seed if session_id is None else session_id, seed)


def nonce_commitment(config: SecAggConfig, client_id: int, nonce: bytes) -> bytes:
    """A client's commitment to its graph-seed nonce (sent, signed, before any reveal)."""
    return commit.digest(labels.GRAPH_COMMIT, config.session_id, _id(client_id), nonce)


def commitments_digest(config: SecAggConfig, commitments: dict[int, bytes]) -> bytes:
    """The digest of every advertiser's nonce commitment that the server announces."""
    data = b"".join(_id(u) + commitments[u] for u in sorted(commitments))
    return commit.digest(labels.GRAPH_COMMITMENTS, config.session_id, b"", data)


def graph_seed(config: SecAggConfig, nonces: dict[int, bytes]) -> bytes:
    """The malicious SecAgg+ graph seed: the digest of every revealed nonce, by client id."""
    data = b"".join(_id(u) + nonces[u] for u in sorted(nonces))
    return commit.digest(labels.GRAPH_SEED, config.session_id, b"", data)


def _id(client_id: int) -> bytes:
    return client_id.to_bytes(4, "big")


@lru_cache(maxsize=16)
def _build(ids: tuple[int, ...], k: int | None, session_id: bytes, seed: bytes) -> NeighborGraph:
    n = len(ids)
    if k is None or k >= n - 1:
        return NeighborGraph(ids, None)
    ring = shuffled_ids(ids, seed, session_id)
    return NeighborGraph(ids, None, harary=_HararyRing(ring, k))


def survivor_component(
    config: SecAggConfig, alive: tuple[int, ...], u: int, seed: bytes | None = None
) -> frozenset[int]:
    """The component of u in this round's graph restricted to the survivor set U3 (cached per
    graph and U3, found by U3's encoded bytes, so clients simulated in one process walk the
    graph once and none of them hashes n ids)."""
    graph = build_graph(config, seed)
    ids = alive if isinstance(alive, IdSet) else IdSet(tuple(alive))
    key = (id(graph), ids.key)
    got = _PARTS.get(key)
    if got is None or got[0] is not graph:
        if len(_PARTS) >= 16:
            evict_oldest(_PARTS)
        got = _PARTS[key] = (graph, graph.components(frozenset(ids)))
    for part in got[1]:
        if u in part:
            return part
    raise KeyError(u)


_PARTS: dict[tuple[int, bytes], tuple[NeighborGraph, tuple[frozenset[int], ...]]] = {}


def shuffled_ids(ids: Sequence[int], seed: bytes, session_id: bytes | None = None) -> list[int]:
    """The sorted ids permuted by a Fisher-Yates shuffle keyed from the seed and the session
    (``session_id`` defaults to the seed: the semi-honest graph)."""
    key = kdf.derive(seed, labels.GRAPH_SHUFFLE, seed if session_id is None else session_id)
    rng = AesCtrRandom(seed=key)
    order = sorted(ids)
    for i in range(len(order) - 1, 0, -1):
        j = randbelow(rng, i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def harary_edges(k: int, n: int) -> set[tuple[int, int]]:
    """Edges (i, j), i < j, of the Harary graph H_{k,n} on ring positions 0..n-1."""
    _check_degree(k, n)
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


def _check_degree(k: int, n: int) -> None:
    """Reject a Harary degree outside [1, n-1] (H_{k,n} is undefined there)."""
    if not 1 <= k < n:
        raise ValueError(f"Harary degree k must be in [1, n-1], got k={k}, n={n}")
