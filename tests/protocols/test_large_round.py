"""What makes a 10^5-client round fit: the streaming driver, a server that keeps no masked
vectors, per-client messages of O(k) bytes plus a compact survivor set, and that code itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import SecAggConfig, SecAggServer, simulate_round
from protocols.secagg import codec
from protocols.secagg.messages import (
    Bundles,
    KeyEntry,
    MaskedInput,
    Survivors,
)
from protocols.secagg.stages import Stage
from protocols.wire import CODE_MIN_SAVING, IdSet, Reader, idset_bytes, known_array
from secagg.csprng import AesCtrRandom
from secagg.errors import MalformedMessage

from .helpers import SESSION, Round, config, expected_sum

M = 8


def _sparse(n: int) -> SecAggConfig:
    return SecAggConfig.for_secagg_plus(range(1, n + 1), M, dropout=0.1, session_id=SESSION,
                                        min_sparse_clients=0)


def _input(u: int) -> np.ndarray:
    return np.random.default_rng([5, u]).integers(0, 2**32, M, dtype=np.uint32)


@given(seed=st.integers(0, 2**32 - 1), late=st.sampled_from(["share_keys", "masked_input",
                                                               "unmask"]))
@settings(max_examples=3, deadline=None)
def test_the_streaming_driver_gives_the_exact_sum_of_lazily_made_inputs(seed, late) -> None:
    """n = 240 SecAgg+ with random dropouts before two stages: inputs are made when a client
    masks (once each, for the clients that reach it), and the result is the sum of U3's inputs
    made again."""
    cfg = _sparse(240)
    gen = np.random.default_rng(seed)
    out = gen.choice(cfg.client_ids, cfg.max_dropouts, replace=False).tolist()
    cut = len(out) // 2
    asked: list[int] = []

    def lazy(u: int) -> np.ndarray:
        asked.append(u)
        return _input(u)

    res = simulate_round(cfg, lazy, {"advertise_keys": out[:cut], late: out[cut:]},
                         rng=AesCtrRandom(seed=seed.to_bytes(32, "big")))
    assert len(asked) == len(set(asked))  # made on demand, never kept and asked again
    assert set(res.included) <= set(asked) and not set(out[:cut]) & set(asked)
    want = expected_sum(cfg, {u: _input(u) for u in res.included}, res.included)
    np.testing.assert_array_equal(res.sum, want)
    assert len(res.included) >= cfg.min_survivors


def test_the_server_keeps_no_masked_vector_beyond_its_window() -> None:
    """Each masked vector goes into the running sum (here at once: a window of one); the
    stage's inbox keeps only the refusals, so the server's state does not grow with arrivals."""
    r = Round(config(12, neighbors=6, threshold=4))
    r.server = SecAggServer(r.config, pending_vectors=1)
    r.stage()
    r.stage()
    assert r.server.stage is Stage.MASKED_INPUT
    for u, wire in r.replies().items():
        r.server.receive(u, wire)
        assert len(r.server._pending) <= 1
        assert not any(isinstance(v, (np.ndarray, MaskedInput)) for v in r.server._inbox.values())
    assert len(r.server._folded) == 11  # all but the one still in the window
    r.close()
    r.check()


@pytest.mark.parametrize("window", [0, 4])
def test_a_refusal_of_a_folded_vector_leaves_the_reporter_out_and_the_sum_exact(window) -> None:
    """Client 2 refuses dealer 3 after 3's vector arrived: with the vector still in the window
    3 is left out (as before); once folded into the sum it cannot be, so 2 is. Either way the
    pair that disagrees on its mask is not in U3 together, and the sum is exact."""
    cfg = config(5, threshold=3)
    r = Round(cfg)
    r.server = SecAggServer(cfg, pending_vectors=window)
    r.stage()
    r.stage()
    flipped = bytearray(r.to_clients[2])
    size = codec.routed_bundle_size(cfg)
    senders = [v for v, _ in codec.decode(r.to_clients[2], cfg, Bundles).bundles]
    at = len(flipped) - size * (len(senders) - senders.index(3)) + 7  # in 3's ciphertext
    flipped[at] ^= 0x10
    r.to_clients[2] = bytes(flipped)
    wire = r.client_step(2)
    assert codec.decode(wire, cfg, MaskedInput).refused == (3,)
    r.deliver({**r.replies([u for u in r.to_clients if u != 2]), 2: wire})
    r.close()
    r.check()
    left_out = 3 if window else 2
    assert r.server.included == frozenset({1, 2, 3, 4, 5} - {left_out})
    assert r.server.reported == {3: frozenset({2})}


@given(order_seed=st.integers(0, 2**32 - 1), window=st.integers(0, 5))
@settings(max_examples=8, deadline=None)
def test_a_vector_is_folded_early_only_when_no_safer_one_waits(order_seed, window) -> None:
    """A masked vector goes into the sum before all of its sender's neighbours have sent (so
    before any of them could refuse it) only when the window is full and no pending vector
    is past refusal: a dealer cannot get folded early just by sending first."""
    cfg = config(14, neighbors=4, threshold=3)
    r = Round(cfg)
    r.server = SecAggServer(cfg, pending_vectors=window)
    r.stage()
    r.stage()
    graph, u2 = r.server._graph, set(r.to_clients)
    order = sorted(u2)
    np.random.default_rng(order_seed).shuffle(order)  # arrival order, not a secret
    replies = r.replies(order)
    sent: set[int] = set()

    def ready(v: int) -> bool:
        return graph.neighbors(v) & u2 <= sent

    for u in order:
        before = set(r.server._pending) | {u}
        sent.add(u)
        r.server.receive(u, replies[u])
        for v in before - set(r.server._pending):
            assert ready(v) or not any(ready(w) for w in before), (v, u)
    r.close()
    r.check()


def test_the_server_refuses_a_bad_window() -> None:
    with pytest.raises(ValueError, match="pending_vectors"):
        SecAggServer(config(5, threshold=3), pending_vectors=-1)


# --- what one client downloads ------------------------------------------------------------------


def _download(n: int, seed: int = 3) -> tuple[int, int]:
    """(bytes one client receives in a SecAgg+ round of n, 10 % dropped after share_keys, the
    server's own encoders; k). Keys and ciphertexts are stand-ins of the real sizes."""
    cfg = _sparse(n)
    gen = np.random.default_rng(seed)
    from protocols.secagg.graph import build_graph

    graph = build_graph(cfg)
    u = cfg.client_ids[0]
    closed = sorted(graph.closed(u))
    entries = {v: KeyEntry(v, v.to_bytes(32, "big"), (v + 10**6).to_bytes(32, "big"))
               for v in closed}
    keylist = codec.encode_key_lists(entries, {u: closed}, (), cfg)[u]
    peers = np.array(sorted(graph.neighbors(u)), dtype=np.int64)
    bundles = codec.encode_bundles_raw(
        u, peers, bytes(peers.size * codec.routed_bundle_size(cfg)), cfg)
    dropped = set(gen.choice(cfg.client_ids[1:], n // 10, replace=False).tolist())
    alive = tuple(v for v in cfg.client_ids if v not in dropped)
    dead = {u: tuple(sorted(graph.neighbors(u) & dropped))}
    survivors = codec.encode_survivors_each(alive, dead, cfg)[u]
    assert codec.decode(survivors, cfg, Survivors) == Survivors(alive, dead[u])
    return len(keylist) + len(bundles) + len(survivors), cfg.degree


def test_download_grows_by_the_survivor_set_and_o_k_only() -> None:
    """From n = 200 to 2,000 a client's download grows by its new neighbours' keys and
    bundles and by the survivor set, at most n/8 bytes (less, coded): nothing else is O(n)."""
    small, k_small = _download(200)
    large, k_large = _download(2000)
    per_neighbour = 4 + 4 + 32 + 4 + 32 + 4 + 4 + codec.routed_bundle_size(_sparse(200))
    grown = large - small - (k_large - k_small) * per_neighbour
    assert 0 < grown <= (2000 - 200) // 8
    assert grown <= 0.6 * (2000 - 200) / 8  # the Elias-Fano code, not the bitmap


def test_the_survivor_messages_equal_the_generic_encoding() -> None:
    cfg = _sparse(300)
    alive = tuple(range(1, 301, 2))
    dead = {1: (2, 4), 3: ()}
    each = codec.encode_survivors_each(alive, dead, cfg)
    assert each == {u: codec.encode(Survivors(alive, d), cfg) for u, d in dead.items()}


# --- the code itself ----------------------------------------------------------------------------


class _Roster:
    def __init__(self, n: int) -> None:
        self.client_ids = tuple(range(1, n + 1))
        self.num_clients = n


@given(data=st.data(), n=st.integers(1, 3000))
@settings(max_examples=80, deadline=None)
def test_id_sets_round_trip_in_the_smallest_encoding(data, n) -> None:
    roster = _Roster(n)
    known = known_array(roster)
    density = data.draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 0.9, 0.98, 1.0]))
    gen = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ids = tuple(int(v) for v in known[gen.random(n) < density])
    wire = idset_bytes(ids, known, compact=True)
    back = Reader(wire, 0, roster).idset(compact=True)
    assert back == ids and isinstance(back, IdSet)
    simple = idset_bytes(ids, known)
    assert wire == simple or (wire[0] == 2 and len(wire) + CODE_MIN_SAVING <= len(simple))
    with pytest.raises(MalformedMessage):  # a code only where the field allows one
        if wire[0] == 2:
            Reader(wire, 0, roster).idset()
        else:
            raise MalformedMessage("not a code")


def test_every_bit_flip_of_a_code_is_refused_or_decodes_to_a_valid_set() -> None:
    roster = _Roster(2000)
    known = known_array(roster)
    ids = tuple(int(v) for v in known[np.random.default_rng(1).random(2000) < 0.9])
    wire = idset_bytes(ids, known, compact=True)
    assert wire[0] == 2
    for bit in range(8 * len(wire)):
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 1 << (bit % 8)
        r = Reader(bytes(flipped), 0, roster)
        try:
            got = r.idset(compact=True)
            r.end()
        except MalformedMessage:
            continue
        assert list(got) == sorted(set(got)) and set(got) <= set(roster.client_ids)
    for cut in range(len(wire)):
        with pytest.raises(MalformedMessage):
            r = Reader(wire[:cut], 0, roster)
            r.idset(compact=True)
            r.end()


def test_the_wire_version_is_3_and_a_version_2_peer_is_refused() -> None:
    """Version 3 added the survivor-set code; a message or config of version 2 is refused."""
    cfg = _sparse(300)
    wire = codec.encode(Survivors(tuple(range(1, 280)), (290,)), cfg)
    assert codec.WIRE_VERSION == 3 and wire[len(codec.MAGIC)] == 3
    old = wire[: len(codec.MAGIC)] + b"\x02" + wire[len(codec.MAGIC) + 1 :]
    with pytest.raises(MalformedMessage, match="version 2"):
        codec.decode(old, cfg, Survivors)
    conf = codec.encode_config(cfg)
    with pytest.raises(MalformedMessage):
        codec.decode_config(conf[: len(codec.MAGIC)] + b"\x02" + conf[len(codec.MAGIC) + 1 :])
