"""The server's array paths give exactly what the per-item code they replace gave: the same
bytes out, the same secrets, the same typed errors on bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MalformedMessage, ProtocolViolation, SecAggConfig
from protocols.secagg import codec, recovery
from protocols.secagg.messages import Bundles, UnmaskShares
from protocols.wire import idset_bytes, known_array
from secagg import shamir
from secagg.csprng import AesCtrRandom

from .helpers import SESSION, Round

IDS = (3, 5, 8, 13, 21, 34, 55, 89)
CFG = SecAggConfig(client_ids=IDS, vector_length=4, threshold=3, session_id=SESSION)
SHARE = codec.share_blob_size()


def _share(gen: np.random.Generator) -> bytes:
    return gen.integers(0, shamir.PRIME, SHARE // 4, dtype=np.uint32).astype("<u4").tobytes()


def _unmask_wire(sender: int, mask: list[tuple[int, bytes]],
                 key: list[tuple[int, bytes]]) -> bytes:
    """UnmaskShares bytes written field by field (no checks: for malformed input too)."""
    def pairs(p: list[tuple[int, bytes]]) -> bytes:
        ids = [v for v, _ in p]
        return (struct.pack(f">I{len(ids)}I", len(ids), *ids) + struct.pack(">I", SHARE)
                + b"".join(b for _, b in p))
    return codec._header(UnmaskShares, CFG) + struct.pack(">I", sender) + pairs(mask) + pairs(key)


# --- recovery ---------------------------------------------------------------------------------


_LIMB = st.one_of(st.integers(0, 2**30 - 1), st.integers(2**30 - 2, 2**31 - 2))
_TOP = st.one_of(st.integers(0, 2**16 - 1), st.integers(2**16 - 2, 2**31 - 2))


@given(st.lists(st.tuples(*[_LIMB] * 8, _TOP).map(list), max_size=20))
@settings(max_examples=50, deadline=None)
def test_limbs_to_secrets_matches_shamir(rows: list[list[int]]) -> None:
    """Including limbs too wide for their slot (None, where shamir raises)."""
    got = shamir.secrets_from_limbs(np.array(rows, dtype=np.uint64).reshape(-1, 9))
    for row, secret in zip(rows, got, strict=True):
        try:
            want = shamir._from_limbs(np.array(row, dtype=np.uint64), 1, 32)[0]
        except shamir.ShamirError:
            want = None
        assert secret == want


@pytest.mark.parametrize("t", [1, 2, 5])
def test_grouped_first_try_rebuilds_every_secret(t: int) -> None:
    """Owners with different holder sets, shares in holder order, extra shares and shares of
    owners nobody asked for: every secret as shamir rebuilds it from the first t holders."""
    rng = AesCtrRandom(seed=b"g" * 32)
    gen = np.random.default_rng(t)
    owners = [11, 4, 7, 30, 2] if t != 2 else [2, 4, 7, 11, 30]  # unsorted and sorted
    holders = list(range(1, 13))
    secrets = {v: rng.token_bytes(32) for v in owners + [99]}
    dealt = {v: shamir.split_secrets([s], t, holders, rng) for v, s in secrets.items()}
    held_by = {v: sorted(gen.choice(holders, size=t + int(gen.integers(0, 4)), replace=False))
               for v in secrets}
    revealed = []
    for w in holders:
        ids = [v for v in sorted(secrets) if w in held_by[v]]
        revealed.append((w, np.array(ids, ">u4").tobytes(), b"".join(dealt[v][w] for v in ids)))
    held = recovery.group_shares(owners, revealed)
    assert held.owners == tuple(owners)
    assert held.counts.tolist() == [len(held_by[v]) for v in owners]
    assert recovery._first_try(held, t) == [secrets[v] for v in owners]
    for i, v in enumerate(owners):
        assert held.of(i) == [(w, dealt[v][w]) for w in held_by[v]]
    empty = recovery.group_shares([], revealed)
    assert recovery._first_try(empty, t) == [] and empty.counts.size == 0


# --- unmask decoding --------------------------------------------------------------------------


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_packed_unmask_decode_agrees_with_decode(data: st.DataObject) -> None:
    gen = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    both = data.draw(st.lists(st.sampled_from(IDS), unique=True))
    cut = data.draw(st.integers(0, len(both)))
    mask = {v: _share(gen) for v in sorted(both[:cut])}
    key = {v: _share(gen) for v in sorted(both[cut:])}
    wire = codec.encode(UnmaskShares(5, tuple(mask.items()), tuple(key.items())), CFG)
    packed = codec.decode_packed_unmask_shares(wire, CFG)
    plain = codec.decode(wire, CFG, UnmaskShares)
    assert packed.sender == plain.sender
    assert packed.mask_ids == tuple(v for v, _ in plain.mask_shares)
    assert packed.key_ids == tuple(v for v, _ in plain.key_shares)
    assert packed.mask_shares == b"".join(s for _, s in plain.mask_shares)
    assert packed.key_shares == b"".join(s for _, s in plain.key_shares)
    for end in range(len(wire)):  # every truncation, like decode
        with pytest.raises(MalformedMessage):
            codec.decode_packed_unmask_shares(wire[:end], CFG)


def test_packed_unmask_decode_refuses_what_decode_refuses() -> None:
    gen = np.random.default_rng(1)
    good, p_limb = _share(gen), shamir.PRIME.to_bytes(4, "little") + _share(gen)[4:]
    bad = {
        "unknown id": _unmask_wire(5, [(4, good)], []),
        "unsorted": _unmask_wire(5, [(8, good), (3, good)], []),
        "repeated": _unmask_wire(5, [(3, good)], [(8, good), (8, good)]),
        "both kinds": _unmask_wire(5, [(8, good)], [(8, good)]),
        "limb = p": _unmask_wire(5, [], [(8, p_limb)]),
        "trailing": _unmask_wire(5, [(8, good)], []) + b"\0",
        "unknown sender": _unmask_wire(6, [(8, good)], []),
    }
    for wire in bad.values():
        with pytest.raises(MalformedMessage):
            codec.decode(wire, CFG, UnmaskShares)
        with pytest.raises(MalformedMessage):
            codec.decode_packed_unmask_shares(wire, CFG)
    assert codec.decode_packed_unmask_shares(_unmask_wire(5, [(8, good)], []), CFG).mask_ids == (8,)


def test_a_bad_unmask_message_leaves_the_server_as_it_was() -> None:
    cfg = SecAggConfig(client_ids=range(1, 7), vector_length=4, threshold=3, session_id=SESSION,
                       neighbors=4, max_dropouts=1, max_corrupt=1)
    r = Round(cfg)
    r.stage()
    r.stage()
    r.stage([1, 2, 3, 4, 5])
    replies = r.replies()
    m = codec.decode(replies[1], cfg, UnmaskShares)
    named = {w for w, _ in m.mask_shares + m.key_shares}
    stranger = next(v for v in cfg.client_ids if v not in named)
    gen = np.random.default_rng(2)
    forged = [
        UnmaskShares(1, m.mask_shares[1:], m.key_shares),  # a share missing
        UnmaskShares(1, tuple(sorted((*m.mask_shares, (stranger, _share(gen))))), m.key_shares),
    ]
    if m.key_shares:  # a dead neighbour's share offered as a survivor's
        forged.append(UnmaskShares(1, tuple(sorted(m.mask_shares + m.key_shares)), ()))
    r.deliver({u: replies[u] for u in (2, 3)})
    before = dict(r.server._inbox)
    for msg in forged:
        with pytest.raises(ProtocolViolation):
            r.server.receive(1, codec.encode(msg, cfg))
        assert r.server._inbox == before
    with pytest.raises(MalformedMessage):
        r.server.receive(1, replies[1] + b"\0")
    assert r.server._inbox == before
    r.deliver({u: replies[u] for u in (1, 4, 5)})
    r.close()
    r.check()


# --- routing and id sets ----------------------------------------------------------------------


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_routed_bundles_match_encode_bundles_raw(data: st.DataObject) -> None:
    size = codec.routed_bundle_size(CFG)
    to = sorted(data.draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1)))
    lists = [sorted(data.draw(st.lists(st.sampled_from(IDS), unique=True))) for _ in to]
    senders = np.array([s for part in lists for s in part], dtype=np.int64)
    bounds = np.cumsum([0] + [len(p) for p in lists])
    rows = np.frombuffer(data.draw(st.binary(min_size=senders.size * size,
                                             max_size=senders.size * size)), np.uint8)
    rows = rows.reshape(senders.size, size).copy()
    got = codec.encode_bundles_routed(np.array(to), bounds, senders, rows, CFG)
    assert list(got) == to
    for i, v in enumerate(to):
        lo, hi = bounds[i], bounds[i + 1]
        want = codec.encode_bundles_raw(v, senders[lo:hi], rows[lo:hi].tobytes(), CFG)
        assert got[v] == want
        assert codec.decode(got[v], CFG, Bundles).recipient == v
    if any(len(p) > 1 for p in lists):  # a list out of order
        i = next(i for i, p in enumerate(lists) if len(p) > 1)
        swapped = senders.copy()
        swapped[bounds[i] : bounds[i + 1]] = swapped[bounds[i] : bounds[i + 1]][::-1]
        with pytest.raises(MalformedMessage):
            codec.encode_bundles_routed(np.array(to), bounds, swapped, rows, CFG)
    if senders.size:
        with pytest.raises(MalformedMessage):
            codec.encode_bundles_routed(np.array(to), bounds, senders + 1000, rows, CFG)
    with pytest.raises(MalformedMessage):
        codec.encode_bundles_routed(np.array(to) + 1000, bounds, senders, rows, CFG)
    with pytest.raises(MalformedMessage):
        codec.encode_bundles_routed(np.array(to), bounds, senders, rows[:, 1:], CFG)


def test_small_id_sets_encode_as_before() -> None:
    known = known_array(CFG)
    for ids in [(), (3,), (5, 89), IDS, IDS[1:]]:
        for compact in (False, True):
            plain = b"\x00" + struct.pack(">I", len(ids)) + np.asarray(ids, ">u4").tobytes()
            got = idset_bytes(ids, known, compact=compact)
            assert got == plain or len(got) < len(plain)



@pytest.mark.parametrize("batch", [1, 3, 1024])
def test_sparse_routing_is_the_same_in_any_batch(monkeypatch: pytest.MonkeyPatch,
                                                 batch: int) -> None:
    """Routing over batches of senders forwards exactly the per-sender rows, bundles to a
    client that advertised but did not share keys included (they are dropped)."""
    from protocols.secagg import server as server_mod

    cfg = SecAggConfig(client_ids=range(1, 11), vector_length=4, threshold=3,
                       session_id=SESSION, neighbors=4, max_dropouts=1, max_corrupt=1)
    r = Round(cfg)
    r.stage()
    replies = r.replies([u for u in cfg.client_ids if u != 7])  # 7 advertised, then went silent
    r.deliver(replies)
    monkeypatch.setattr(server_mod, "_ROUTE_BATCH", batch)
    out = r.close()
    assert 7 not in out
    for v, wire in out.items():
        got = codec.decode(wire, cfg, Bundles)
        want = []
        for u in sorted(replies):
            m = codec.decode_packed_share_keys(replies[u], cfg)
            if v in m.recipients:
                want.append((u, m.routed_rows()[m.recipients.index(v)].tobytes()))
        assert got.bundles == tuple(want)
    r.check()
