"""Bad messages to server and clients: typed errors, state unchanged, and the round still ends right.

Every test tampers with one message, checks the exception class, then carries on with the honest
message and checks the final sum is exactly Σ_{u∈U3} x_u (the state was not disturbed).
"""

from __future__ import annotations

import copy

import pytest

from protocols import (
    AbortError,
    AuthenticationError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    SecAggError,
    Stage,
    WrongSession,
)
from protocols.secagg import codec
from protocols.secagg.messages import (
    Bundles,
    ConsistencySignature,
    KeyList,
    MaskedInput,
    Signatures,
    Survivors,
)

from .helpers import SESSION, Round, config


def _to_stage(r: Round, stage: Stage) -> None:
    while r.server.stage is not stage:
        r.stage()


def _other_session_copy(r: Round) -> Round:
    other = config(r.config.num_clients, neighbors=r.config.neighbors,
                   threshold=r.config.threshold, malicious=r.config.malicious,
                   session_id=b"another-session-0000")
    return Round(other, seed=b"o" * 32)


SERVER_STAGES = [Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT, Stage.UNMASKING]


@pytest.mark.parametrize("stage", SERVER_STAGES)
def test_server_rejects_bad_messages_and_recovers(stage: Stage) -> None:
    r = Round(config(6, threshold=4))
    other = _other_session_copy(r)
    _to_stage(r, stage)
    _to_stage(other, stage)
    replies = r.replies()
    good = replies[1]
    bad_inputs = {
        b"": MalformedMessage,
        b"garbage that is not a message": MalformedMessage,
        good[:-1]: MalformedMessage,
        good[: len(good) // 2]: MalformedMessage,
        good + b"\x00": MalformedMessage,
        b"XXXX" + good[4:]: MalformedMessage,
        good[:4] + b"\x09" + good[5:]: MalformedMessage,  # unknown version
        other.replies([1])[1]: WrongSession,
    }
    for data, exc in bad_inputs.items():
        with pytest.raises(exc):
            r.server.receive(1, data)
    with pytest.raises(ProtocolViolation):
        r.server.receive(2, good)  # client 1's message on client 2's connection
    with pytest.raises(ProtocolViolation):
        r.server.receive(99, good)  # not a client of this round
    r.server.receive(1, good)
    with pytest.raises(ProtocolViolation):
        r.server.receive(1, good)  # duplicate: ignored, state unchanged
    r.deliver({u: m for u, m in replies.items() if u != 1})
    r.close()
    r.check()


def test_server_rejects_out_of_order_messages() -> None:
    r = Round(config(6, threshold=4))
    stage0 = r.replies()
    r.deliver(stage0)
    r.close()
    with pytest.raises(OutOfOrder):
        r.server.receive(1, stage0[1])  # an advertisement during share_keys
    stage1 = r.replies()
    r.deliver(stage1)
    r.close()
    with pytest.raises(OutOfOrder):
        r.server.receive(2, stage1[2])  # a share_keys message during masked_input
    with pytest.raises(OutOfOrder):
        r.server.result()
    r.check()


def test_every_single_bit_flip_to_the_server_is_caught_or_harmless() -> None:
    """Flips in header, ids and lengths must raise; after any rejection the state is intact."""
    r = Round(config(5, threshold=3))
    replies = r.replies()
    good = replies[3]
    header = len(codec.MAGIC) + 4 + len(SESSION) + 4  # through the sender id
    for bit in range(8 * len(good)):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        probe = copy.deepcopy(r.server)
        try:
            probe.receive(3, bytes(flipped))
        except SecAggError:
            probe.receive(3, good)  # state unchanged: the honest message still goes in
        else:
            assert bit // 8 >= header, f"flip of header bit {bit} accepted"
    r.deliver(replies)
    r.close()
    r.check()


@pytest.mark.parametrize("malicious", [False, True])
def test_every_single_bit_flip_of_a_bundle_list_is_caught_by_the_client(malicious: bool) -> None:
    """A flip in the framing is a typed error that changes nothing; a flip in one dealer's
    ciphertext or share commitments makes the recipient refuse that dealer, who is then left
    out of the sum (its masks would not cancel), and the round still ends with the exact sum."""
    cfg = config(5, threshold=3, malicious=malicious)
    r = Round(cfg)
    _to_stage(r, Stage.MASKED_INPUT)
    good = r.to_clients[2]
    assert good is not None
    size = codec.routed_bundle_size(cfg)
    senders = [v for v, _ in codec.decode(good, cfg, Bundles).bundles]
    blobs_at = len(good) - size * len(senders)
    for bit in range(0, 8 * blobs_at, 3):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SecAggError):
            r.client_step(2, bytes(flipped))
    r.check()
    for i, v in enumerate(senders):
        for at in (blobs_at + i * size + 7, blobs_at + (i + 1) * size - 3):  # ciphertext, commit
            _one_flipped_bundle_excludes_its_dealer(cfg, at, v)


def _one_flipped_bundle_excludes_its_dealer(cfg, at: int, dealer: int) -> None:
    r = Round(cfg)
    _to_stage(r, Stage.MASKED_INPUT)
    flipped = bytearray(r.to_clients[2])
    flipped[at] ^= 0x10
    r.to_clients[2] = bytes(flipped)
    wire = r.client_step(2)
    assert codec.decode(wire, cfg, MaskedInput).refused == (dealer,)
    r.deliver({**r.replies([u for u in r.to_clients if u != 2]), 2: wire})
    r.close()
    r.check()
    assert dealer not in r.server.included and len(r.server.included) == 4


def test_every_single_bit_flip_of_a_signed_key_list_is_rejected() -> None:
    r = Round(config(5, threshold=3, malicious=True))
    r.stage()
    good = r.to_clients[4]
    assert good is not None
    for bit in range(0, 8 * len(good), 2):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SecAggError):
            r.client_step(4, bytes(flipped))
    r.check()


def test_client_checks_the_key_list() -> None:
    r = Round(config(6, threshold=4))
    r.stage()
    cfg = r.config
    good = codec.decode(r.to_clients[1], cfg, KeyList)
    entries = good.entries
    own = entries[0]
    cases = {
        "missing own": (KeyList(entries[1:]), ProtocolViolation),
        "altered own": (KeyList((type(own)(1, own.s_pk, own.c_pk),) + entries[1:]),
                        ProtocolViolation),
        "repeated key": (KeyList(entries[:-1] + (type(own)(6, entries[1].c_pk, entries[5].s_pk),)),
                         ProtocolViolation),
        "too few": (KeyList(entries[:3]), AbortError),
    }
    for name, (bad, exc) in cases.items():
        with pytest.raises(exc):
            r.client_step(1, codec.encode(bad, cfg))
        assert r.clients[1].stage is Stage.SHARE_KEYS, name
    with pytest.raises(WrongSession):
        r.client_step(1, codec.encode(good, _other_session_copy(r).config))
    with pytest.raises(OutOfOrder):
        r.clients[1].unmask(r.to_clients[1])
    with pytest.raises(OutOfOrder):  # a message of another stage: right session, wrong type
        r.client_step(1, codec.encode(Survivors((1, 2, 3), ()), cfg))
    first = r.client_step(1)
    with pytest.raises(OutOfOrder):  # the same key list twice: the client has moved on
        r.clients[1].share_keys(r.to_clients[1])
    r.server.receive(1, first)
    r.deliver(r.replies([2, 3, 4, 5, 6]))
    r.close()
    r.check()


def test_sparse_client_refuses_non_neighbours() -> None:
    cfg = config(12, neighbors=4, threshold=3)
    r = Round(cfg)
    r.stage()
    u = 1
    good = codec.decode(r.to_clients[u], cfg, KeyList)
    stranger = next(v for v in cfg.client_ids if v != u and v not in {e.client_id for e in good.entries})
    donor = codec.decode(r.to_clients[stranger], cfg, KeyList)
    extra = next(e for e in donor.entries if e.client_id == stranger)
    forged = KeyList(tuple(sorted(good.entries + (extra,), key=lambda e: e.client_id)))
    with pytest.raises(ProtocolViolation):
        r.client_step(u, codec.encode(forged, cfg))
    r.check()


def test_client_checks_bundles_are_addressed_from_v_to_u() -> None:
    r = Round(config(6, threshold=4))
    _to_stage(r, Stage.MASKED_INPUT)
    cfg = r.config
    mine = codec.decode(r.to_clients[1], cfg, Bundles)
    theirs = codec.decode(r.to_clients[2], cfg, Bundles)
    with pytest.raises(ProtocolViolation):
        r.client_step(1, codec.encode(Bundles(2, mine.bundles), cfg))
    with pytest.raises(AbortError):  # too few bundles: a typed error, nothing changes
        r.client_step(1, codec.encode(Bundles(1, mine.bundles[:2]), cfg))
    assert r.clients[1].stage is Stage.MASKED_INPUT
    r.check()
    # bundle meant for 2, relabelled as to 1 (same sender 3): the header inside says 3 -> 2,
    # so 1 refuses dealer 3; sender ids swapped (3's as 4's): 1 refuses both
    swapped = tuple((v, dict(theirs.bundles)[v] if v == 3 else ct) for v, ct in mine.bundles)
    ct = dict(mine.bundles)
    relabel = tuple((v, ct[4] if v == 3 else ct[3] if v == 4 else ct[v]) for v in sorted(ct))
    for bundles, refused in ((swapped, (3,)), (relabel, (3, 4))):
        fresh = Round(config(6, threshold=4))  # same seed: the same keys and ciphertexts
        _to_stage(fresh, Stage.MASKED_INPUT)
        wire = fresh.client_step(1, codec.encode(Bundles(1, bundles), cfg))
        assert codec.decode(wire, cfg, MaskedInput).refused == refused


def test_forged_unmask_requests_are_refused() -> None:
    r = Round(config(6, threshold=3))
    r.stage()
    r.stage([1, 2, 3, 4, 5])  # client 6 drops before sharing keys
    r.stage([1, 2, 3, 4])  # client 5 drops before its masked input
    cfg = r.config
    honest = codec.decode(r.to_clients[1], cfg, Survivors)
    assert honest == Survivors((1, 2, 3, 4), (5,))
    forged = {
        "alive and dead": Survivors((1, 2, 3, 4), (4, 5)),
        "itself dead": Survivors((2, 3, 4), (1, 5)),
        "neighbour neither": Survivors((1, 2, 3, 4), ()),
        "never shared, called alive": Survivors((1, 2, 3, 4, 6), (5,)),
        "never shared, called dead": Survivors((1, 2, 3, 4), (5, 6)),
    }
    for name, msg in forged.items():
        with pytest.raises(ProtocolViolation):
            r.client_step(1, codec.encode(msg, cfg))
        assert r.clients[1].stage is Stage.UNMASKING, name
    with pytest.raises(AbortError):  # too few survivors around it
        r.client_step(1, codec.encode(Survivors((1, 2), (3, 4, 5)), cfg))
    unknown = bytearray(codec.encode(honest, cfg))
    unknown[-1] |= 0x80  # the dead set's bitmap names a client past the last one
    with pytest.raises(MalformedMessage):
        r.client_step(1, bytes(unknown))
    shares = r.client_step(1)
    with pytest.raises(OutOfOrder):  # never a second request: no chance to reveal the other kind
        r.client_step(1, codec.encode(Survivors((1, 2, 3), (4, 5)), cfg))
    r.server.receive(1, shares)
    r.deliver(r.replies([2, 3, 4]))
    r.close()
    r.check()


def test_malicious_server_showing_two_views_of_u3_gets_nothing() -> None:
    """A is told everyone survived, B that client 1 dropped: with b-shares of 1 from A and
    s_sk-shares of 1 from B the server would unmask x_1. Neither group reaches t signatures on
    its view, so every client refuses and nobody gets a result."""
    cfg = config(8, threshold=5, malicious=True)
    r = Round(cfg)
    r.stage()
    r.stage()
    r.deliver(r.replies())
    r.close()  # honest U3 = everyone; the server now lies
    group_a, group_b = [1, 2, 3, 4], [5, 6, 7, 8]
    view_a = Survivors(tuple(cfg.client_ids), ())
    view_b = Survivors(tuple(range(2, 9)), (1,))
    sigs = {}
    for u in group_a:
        sigs[u] = r.client_step(u, codec.encode(view_a, cfg))
    for u in group_b:
        sigs[u] = r.client_step(u, codec.encode(view_b, cfg))
    decoded = {u: codec.decode(s, cfg, ConsistencySignature).signature for u, s in sigs.items()}
    refused = 0
    for group, view in ((group_a, view_a), (group_b, view_b)):
        own = tuple((u, decoded[u]) for u in group)
        every = tuple(sorted(decoded.items()))
        for u in group:
            for pairs in (own, every):
                bad = Signatures(view.alive, view.dead, pairs)
                with pytest.raises((AbortError, AuthenticationError, ProtocolViolation)):
                    r.client_step(u, codec.encode(bad, cfg))
            refused += 1
            assert r.clients[u].stage is Stage.UNMASKING
    assert refused == 8
    with pytest.raises(OutOfOrder):  # no client revealed a share: there is no result to take
        r.server.result()


def test_malicious_mode_detects_a_forged_advertisement_signature() -> None:
    r = Round(config(5, threshold=3, malicious=True))
    replies = r.replies()
    forged = bytearray(replies[2])
    forged[-5] ^= 1  # the signature's last byte (the empty graph commitment's length follows)
    with pytest.raises(AuthenticationError):
        r.server.receive(2, bytes(forged))
    r.deliver(replies)
    r.close()
    r.check()
