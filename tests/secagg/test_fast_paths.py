"""The cached and batched derivation paths equal the straightforward ones, byte for byte.

Commitments hash a cached SHA-256 state of the (label, session) prefix, ``build_info`` caches
that prefix, bundle headers cache their session part, bundles are sealed and opened with
libsodium's ``*_afternm`` calls on the Box key, and a client checks its shares' commitments in
one batch. Each is checked here against a plain re-statement of the documented format, against
``nacl.public.Box`` both ways, and against known answers recorded with the code before these
fast paths (so no output byte changed).
"""

from __future__ import annotations

import hashlib
import pickle

import nacl.public
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.peers import PeerBoxes
from protocols.secagg import commitments
from protocols.secagg.client import PEER_BATCH, SecAggClient, _batches
from protocols.secagg.config import SecAggConfig
from secagg import commit, encryption, kdf, keys, labels, masking
from secagg.csprng import AesCtrRandom
from secagg.errors import AuthenticationError, EncodingError, ProtocolViolation

SESSION = bytes(range(16, 48))

sessions = st.binary(min_size=16, max_size=64)
contexts = st.binary(max_size=40)


def reference_info(label: bytes, session: bytes, context: bytes) -> bytes:
    """``label ‖ version ‖ len(session) ‖ session ‖ context`` as the kdf docstring states it."""
    return (len(label).to_bytes(2, "big") + label + labels.VERSION.to_bytes(2, "big")
            + len(session).to_bytes(2, "big") + session + context)


def reference_digest(label: bytes, session: bytes, context: bytes, data: bytes,
                     size: int = 32) -> bytes:
    info = reference_info(label, session, context)
    return hashlib.sha256(info + len(data).to_bytes(4, "big") + data).digest()[:size]


def reference_header(sender: int, recipient: int, session: bytes) -> bytes:
    return (labels.SHARE_BUNDLE + labels.VERSION.to_bytes(2, "big")
            + len(session).to_bytes(2, "big") + session + sender.to_bytes(8, "big")
            + recipient.to_bytes(8, "big"))


# --- known answers, recorded with the code before the fast paths --------------------------------


def test_known_answers_recorded_before_the_fast_paths() -> None:
    ctx = b"\x00\x00\x00\x07\x00\x00\x00\x09\x01"
    assert commit.digest(labels.SHARE_COMMIT, SESSION, ctx, b"share" * 7, 16).hex() == (
        "fba99d325b099a4489c46b8d9261b6a2")
    assert commit.digest(labels.SELF_SEED_COMMIT, SESSION, b"\x00\x00\x00\x07",
                         b"\x42" * 32).hex() == (
        "61f79746f080bcac773d46b5e7f11da040a70dbe6c9c8596059f55d3750b3076")
    assert kdf.derive(b"\x11" * 32, labels.PRG_KEY, SESSION, b"ctx", 16).hex() == (
        "6b9b312096fae657bb108fd05bbe866d")
    rng = AesCtrRandom(b"k" * 32)
    a, b = keys.BoxKeyPair.generate(rng), keys.BoxKeyPair.generate(rng)
    ct = encryption.seal_bundle(a, b.public_bytes, 3, 5, SESSION, b"payload-" * 9,
                                AesCtrRandom(b"n" * 32))
    assert len(ct) == 186
    assert hashlib.sha256(ct).hexdigest() == (
        "1fb27353fb03b741ccbfc79b4d598cbdb10f94a2766e6a07fd7fabc1f1ac8f63")
    m1, m2, m3 = (keys.MaskKeyPair.generate(rng) for _ in range(3))
    seeds = keys.pairwise_seeds(m1, 4, [(9, m2.public_bytes), (2, m3.public_bytes)], SESSION)
    assert [s.hex() for s in seeds] == [
        "0e6fa549bc7def829d5cd4afaa0dcbaed4c3bf2f0e959420edaa5eeaa74dd98f",
        "2682670a9b719de580dc12353cad6a88febac02a034388b378b8ad6acdeb24ab",
    ]


# --- kdf / commit --------------------------------------------------------------------------------


@given(st.sampled_from(labels.ALL), sessions, contexts)
def test_build_info_equals_the_documented_layout(label, session, context) -> None:
    assert kdf.build_info(label, session, context) == reference_info(label, session, context)
    assert kdf.info_prefix(label, session) == reference_info(label, session, b"")
    assert kdf.build_info(label, bytearray(session), context) == reference_info(
        label, session, context)


@given(st.sampled_from(labels.ALL), sessions, contexts, st.binary(max_size=300),
       st.integers(16, 32))
def test_commit_digest_equals_plain_sha256(label, session, context, data, size) -> None:
    want = reference_digest(label, session, context, data, size)
    assert commit.digest(label, session, context, data, size) == want
    assert commit.digester(label, session, size)(context, data) == want
    assert commit.digest(label, bytearray(session), context, data, size) == want
    assert commit.matches(want, label, session, context, data)
    assert not commit.matches(bytes(a ^ 1 for a in want[:1]) + want[1:], label, session,
                              context, data)


def test_the_cached_state_is_never_updated_in_place() -> None:
    first = commit.digest(labels.SHARE_COMMIT, SESSION, b"a", b"x")
    for _ in range(3):
        commit.digest(labels.SHARE_COMMIT, SESSION, b"b", b"y" * 100)
    assert commit.digest(labels.SHARE_COMMIT, SESSION, b"a", b"x") == first


def test_caches_stay_bounded_and_correct_past_their_size() -> None:
    for i in range(commit._STATES_MAX + 10):
        session = i.to_bytes(16, "big")
        assert commit.digest(labels.GRAPH_SEED, session, b"", b"d") == reference_digest(
            labels.GRAPH_SEED, session, b"", b"d")
        assert encryption.bundle_header(1, 2, session) == reference_header(1, 2, session)
    assert len(commit._STATES) <= commit._STATES_MAX
    assert len(kdf._PREFIXES) <= kdf._PREFIXES_MAX
    assert len(encryption._SESSION_HEADERS) <= encryption._SESSION_HEADERS_MAX


def test_checks_still_run_after_a_session_is_cached() -> None:
    commit.digest(labels.SHARE_COMMIT, SESSION, b"", b"x")
    with pytest.raises(ValueError, match="label"):
        commit.digest(b"made-up", SESSION, b"", b"x")
    with pytest.raises(ValueError, match="label"):
        commit.digester(b"made-up", SESSION)
    with pytest.raises(ValueError, match="session_id"):
        commit.digest(labels.SHARE_COMMIT, SESSION[:15], b"", b"x")
    with pytest.raises(ValueError, match="size"):
        commit.digest(labels.SHARE_COMMIT, SESSION, b"", b"x", 15)
    with pytest.raises(ValueError, match="size"):
        commit.digester(labels.SHARE_COMMIT, SESSION, 33)
    with pytest.raises(ValueError, match="session_id"):
        kdf.build_info(labels.PRG_KEY, SESSION[:15])


# --- share commitments ---------------------------------------------------------------------------


CFG = SecAggConfig(client_ids=(1, 2, 3), vector_length=1, session_id=SESSION)


@given(st.integers(1, 2**31), st.lists(st.integers(1, 2**31), min_size=1, max_size=6,
                                        unique=True), st.data())
@settings(max_examples=40)
def test_batched_share_commitments_equal_one_at_a_time(dealer, holders, data) -> None:
    cfg = CFG
    size = 36
    key_shares = {h: data.draw(st.binary(min_size=size, max_size=size)) for h in holders}
    mask_shares = {h: data.draw(st.binary(min_size=size, max_size=size)) for h in holders}
    blob = commitments.share_commitments(cfg, dealer, holders, key_shares, mask_shares)
    one = b"".join(
        commitments.share_commitment(cfg, dealer, h, kind, shares[h])
        for h in holders
        for kind, shares in ((commitments.KEY_SHARE, key_shares),
                             (commitments.MASK_SHARE, mask_shares))
    )
    assert blob == one
    for i, h in enumerate(holders):  # each against the plain SHA-256 of its context
        for kind, shares in ((0, key_shares), (1, mask_shares)):
            ctx = dealer.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes((kind,))
            at = (2 * i + kind) * 16
            assert blob[at : at + 16] == reference_digest(labels.SHARE_COMMIT, SESSION, ctx,
                                                          shares[h], 16)


@given(st.lists(st.tuples(st.integers(1, 2**31), st.binary(min_size=36, max_size=36),
                          st.binary(min_size=36, max_size=36), st.integers(0, 3)),
                max_size=8, unique_by=lambda x: x[0]),
       st.integers(1, 2**31))
@settings(max_examples=40)
def test_own_shares_match_equals_share_matches(dealt, holder) -> None:
    cfg = CFG
    rows = []
    for dealer, key, mask, corrupt in dealt:
        commits = commitments.share_commitments(cfg, dealer, [holder], {holder: key},
                                                {holder: mask})
        if corrupt == 1:  # a wrong key-share commitment
            commits = bytes([commits[0] ^ 1]) + commits[1:]
        elif corrupt == 2:  # a wrong mask-share commitment
            commits = commits[:-1] + bytes([commits[-1] ^ 1])
        rows.append((dealer, commits, key, mask))
    got = commitments.own_shares_match(cfg, holder, rows)
    want = [
        all(commitments.share_matches(cfg, d, (holder,), c, holder, kind, share)
            for kind, share in ((0, k), (1, m)))
        for d, c, k, m in rows
    ]
    assert got == want
    assert got == [corrupt not in (1, 2) for *_, corrupt in dealt]


# --- bundles -------------------------------------------------------------------------------------


@given(st.integers(0, 2**63), st.integers(0, 2**63), sessions)
def test_cached_bundle_header_equals_the_uncached_layout(sender, recipient, session) -> None:
    assert encryption.bundle_header(sender, recipient, session) == reference_header(
        sender, recipient, session)
    assert encryption.bundle_header(sender, recipient, bytearray(session)) == reference_header(
        sender, recipient, session)
    assert encryption.sealed_size(10, session) == 40 + len(reference_header(0, 0, session)) + 10


@given(st.binary(max_size=400), st.integers(1, 2**40), st.integers(1, 2**40))
@settings(max_examples=30)
def test_afternm_bundles_interoperate_both_ways_with_nacl_box(payload, s_id, r_id) -> None:
    alice, bob = keys.BoxKeyPair.generate(), keys.BoxKeyPair.generate()
    header = reference_header(s_id, r_id, SESSION)
    # ours -> nacl.public.Box, and the same bytes as Box.encrypt with the same nonce
    ct = encryption.seal_bundle(alice, bob.public_bytes, s_id, r_id, SESSION, payload)
    nonce = ct[: encryption.NONCE_BYTES]
    box = nacl.public.Box(alice._sk, nacl.public.PublicKey(bob.public_bytes))
    assert ct == bytes(box.encrypt(header + payload, nonce))
    assert nacl.public.Box(bob._sk, nacl.public.PublicKey(alice.public_bytes)).decrypt(ct) == (
        header + payload)
    # nacl.public.Box -> ours
    theirs = bytes(box.encrypt(header + payload))
    assert encryption.open_bundle(bob, alice.public_bytes, s_id, r_id, SESSION, theirs) == payload
    # and through PeerBoxes, as the clients hold them
    assert encryption.open_bundle(PeerBoxes(bob), alice.public_bytes, s_id, r_id, SESSION,
                                  theirs) == payload


def test_seeded_sealing_equals_box_encrypt_byte_for_byte() -> None:
    rng = AesCtrRandom(b"s" * 32)
    alice, bob = keys.BoxKeyPair.generate(rng), keys.BoxKeyPair.generate(rng)
    payload = bytes(range(200))
    ct = encryption.seal_bundle(alice, bob.public_bytes, 7, 8, SESSION, payload,
                                AesCtrRandom(b"r" * 32))
    nonce = AesCtrRandom(b"r" * 32).token_bytes(encryption.NONCE_BYTES)
    box = nacl.public.Box(alice._sk, nacl.public.PublicKey(bob.public_bytes))
    assert ct == bytes(box.encrypt(reference_header(7, 8, SESSION) + payload, nonce))


@pytest.mark.parametrize("blob", [b"", b"\x00" * 23, b"\x00" * 24, b"\x00" * 39, b"\x00" * 40,
                                  b"\x00" * 100])
def test_short_or_forged_bundles_raise_authentication_error(blob: bytes) -> None:
    alice, bob = keys.BoxKeyPair.generate(), keys.BoxKeyPair.generate()
    with pytest.raises(AuthenticationError):
        encryption.open_bundle(bob, alice.public_bytes, 1, 2, SESSION, blob)


def test_a_box_of_the_right_peer_but_wrong_header_is_refused() -> None:
    alice, bob = keys.BoxKeyPair.generate(), keys.BoxKeyPair.generate()
    box = nacl.public.Box(alice._sk, nacl.public.PublicKey(bob.public_bytes))
    for header in (reference_header(1, 3, SESSION), reference_header(1, 2, bytes(32)), b""):
        ct = bytes(box.encrypt(header + b"payload"))
        with pytest.raises(AuthenticationError):
            encryption.open_bundle(bob, alice.public_bytes, 1, 2, SESSION, ct)


def test_shared_key_equals_the_box_key_and_keeps_its_checks() -> None:
    me = keys.BoxKeyPair.generate()
    peers = [keys.BoxKeyPair.generate().public_bytes for _ in range(5)]
    assert [me.shared_key(pk) for pk in peers] == [me.box(pk).shared_key() for pk in peers]
    with pytest.raises(ProtocolViolation):
        me.shared_key(b"\x01" * 31)
    with pytest.raises(ProtocolViolation):
        me.shared_key(bytes(32))  # small order
    with pytest.raises(TypeError):
        me.shared_key(bytearray(peers[0]))


def test_peer_boxes_keep_one_key_per_peer_and_refuse_pickling() -> None:
    pair = keys.BoxKeyPair.generate()
    boxes = PeerBoxes(pair)
    peers = [keys.BoxKeyPair.generate().public_bytes for _ in range(9)]
    boxes.prefetch(peers + peers[:2])
    assert [boxes.shared_key(pk) for pk in peers] == [pair.box(pk).shared_key() for pk in peers]
    assert [boxes.box(pk).shared_key() for pk in peers] == [pair.shared_key(pk) for pk in peers]
    with pytest.raises(ProtocolViolation):
        boxes.shared_key(bytes(32))
    with pytest.raises(TypeError):
        pickle.dumps(boxes)
    assert pair.public_hex()[:16] in repr(boxes)


# --- pairwise seeds, masking, client helpers -----------------------------------------------------


@given(st.integers(1, 2**40), st.lists(st.integers(1, 2**40), min_size=1, max_size=4,
                                        unique=True))
@settings(max_examples=20)
def test_pairwise_seeds_equal_hkdf_over_the_ordered_pair(self_id, peer_ids) -> None:
    me = keys.MaskKeyPair.generate()
    peer_ids = [v for v in peer_ids if v != self_id]
    others = [keys.MaskKeyPair.generate() for _ in peer_ids]
    got = keys.pairwise_seeds(me, self_id, list(zip(peer_ids, (o.public_bytes for o in others),
                                                    strict=True)), SESSION)
    want = [
        kdf.hkdf_sha256(me.exchange(o.public_bytes),
                        reference_info(labels.PAIRWISE_SEED, SESSION,
                                       min(self_id, v).to_bytes(8, "big")
                                       + max(self_id, v).to_bytes(8, "big")), 32)
        for v, o in zip(peer_ids, others, strict=True)
    ]
    assert got == want


def test_default_workers_is_cached_and_still_overridable(monkeypatch) -> None:
    assert masking.default_workers() == max(1, min(masking.MAX_WORKERS, masking.usable_cpus()))
    monkeypatch.setattr(masking, "usable_cpus", lambda: 1000)
    assert masking.default_workers() == masking.MAX_WORKERS


def test_zero_source_is_zero_read_only_and_grows() -> None:
    small = masking._zero_source(16)
    big = masking._zero_source(masking.CHUNK_BYTES + 5)
    assert big.shape[0] >= masking.CHUNK_BYTES + 5 and small.shape[0] >= 16
    assert not big.any() and not big.flags.writeable


@pytest.mark.parametrize("values", [10, 10_000, 1_000_000])
@pytest.mark.parametrize("k", [0, 1, 2, 3, 7, 31, 40, 42, 64, 65, 100, 300])
def test_peer_batches_cover_every_peer_once_evenly(k: int, values: int) -> None:
    peers = [(v, bytes(32)) for v in range(k)]
    batches = _batches(peers, values)
    assert [p for b in batches for p in b] == peers
    sizes = [len(b) for b in batches]
    assert all(0 < s <= PEER_BATCH for s in sizes)
    assert not sizes or max(sizes) - min(sizes) <= 1


def test_small_mask_work_stays_on_one_job_and_large_work_is_split(monkeypatch) -> None:
    monkeypatch.setattr(masking, "usable_cpus", lambda: 2)
    peers = [(v, bytes(32)) for v in range(40)]
    assert [len(b) for b in _batches(peers, 10_000)] == [20, 20]  # k = 40, m = 10^4: two threads
    assert [len(b) for b in _batches(peers[:4], 100)] == [4]  # four agreements: inline
    assert len(_batches(peers[:4], 1_000_000)) == 2  # but long masks are worth a thread
    monkeypatch.setattr(masking, "usable_cpus", lambda: 1)
    assert [len(b) for b in _batches(peers, 10_000)] == [20, 20]  # at most PEER_BATCH per job


def test_parallel_map_keeps_order_and_runs_few_items_inline() -> None:
    import threading

    main = threading.get_ident()
    seen: list[int] = []

    def where(x: int) -> int:
        seen.append(threading.get_ident())
        return 3 * x

    assert masking.parallel_map(where, list(range(7)), workers=2, min_per_thread=4) == [
        3 * x for x in range(7)]
    assert set(seen) == {main}
    items = list(range(50))
    assert masking.parallel_map(where, items, workers=2, min_per_thread=4) == [3 * x for x in items]
    assert masking.parallel_map(where, items, workers=1) == [3 * x for x in items]


@pytest.mark.parametrize(("dtype", "values", "bits", "ok"), [
    (np.uint32, [0, 2**32 - 1], 32, True),
    (np.uint64, [0, 2**32 - 1], 32, True),
    (np.uint64, [2**32], 32, False),
    (np.uint32, [2**20], 20, False),
    (np.uint32, [2**20 - 1], 20, True),
    (np.int32, [-1, 5], 32, False),
    (np.int64, [2**31 - 1], 32, True),
    (np.int64, [2**32], 32, False),
    (np.int8, [-1], 32, False),
    (np.int8, [127], 32, True),
    (np.uint8, [255], 8, True),
    (np.float64, [1.0], 32, False),
])
def test_input_vectors_are_checked_for_range(dtype, values, bits, ok) -> None:
    cfg = SecAggConfig(client_ids=(1, 2, 3), vector_length=len(values), modulus_bits=bits,
                       session_id=SESSION)
    client = SecAggClient(cfg, 1)
    vec = np.array(values, dtype=dtype)
    if ok:
        out = client._check_vector(vec)
        assert out.tolist() == values and out.flags.c_contiguous and out is not vec
    else:
        with pytest.raises(EncodingError):
            client._check_vector(vec)


def test_limit_threads_caps_the_default(monkeypatch) -> None:
    monkeypatch.setattr(masking, "usable_cpus", lambda: 6)
    monkeypatch.setattr(masking, "_THREAD_LIMIT", masking.MAX_WORKERS)
    assert masking.default_workers() == 6
    masking.limit_threads(1)
    assert masking.default_workers() == 1
    masking.limit_threads(4)
    assert masking.default_workers() == 4
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="count"):
            masking.limit_threads(bad)  # type: ignore[arg-type]
    assert masking.default_workers() == 4  # a refused call changes nothing


def test_writable_views_as_session_ids_work_as_before() -> None:
    """A writable memoryview cannot be hashed (ValueError, not TypeError): the caches must
    pass it through uncached, with the same results as bytes."""
    raw = b"S" * 32
    view = memoryview(bytearray(raw))
    assert kdf.derive(b"k" * 32, labels.PAIRWISE_SEED, view) == kdf.derive(
        b"k" * 32, labels.PAIRWISE_SEED, raw)
    assert commit.digest(labels.SHARE_COMMIT, view, b"", b"x", 16) == commit.digest(
        labels.SHARE_COMMIT, raw, b"", b"x", 16)
    a, b = keys.BoxKeyPair.generate(), keys.BoxKeyPair.generate()
    sealed = encryption.seal_bundle(a, b.public_bytes, 1, 2, raw, b"payload")
    assert encryption.open_bundle(b, a.public_bytes, 1, 2, view, sealed) == b"payload"
