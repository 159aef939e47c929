"""Adversarial bytes and deviating peers: typed errors with state unchanged, bad replies caught.

Every message the server or a client gets may be corrupted: a bad one raises one of our typed
errors and leaves the party where it was, and the round then completes with the exact sum. A
tampered aggregate reply is caught by the code's redundancy: blamed and routed around when it can
be singled out, otherwise the round aborts; the documented limit (more coordinated liars than
spare replies) is shown too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.lightsecagg import Stage, codec, coding
from protocols.lightsecagg.messages import (
    AdvertiseKey,
    AggregateReply,
    MaskedInput,
    PublicKeys,
    ShareMasks,
    SubMasks,
    Survivors,
)
from secagg import keys
from secagg.errors import (
    AbortError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    SecAggError,
    WrongSession,
)
from secagg.field import PRIME

from .helpers import Round, config, expected_sum


def _flips(data: bytes, step: int):
    for bit in range(0, 8 * len(data), step):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        yield bytes(flipped)


def _server_snapshot(r: Round) -> tuple:
    s = r.server
    return s.stage, s.expected, s.included, None if s._sum is None else s._sum.copy().tobytes()


def _payload_bytes(wire: bytes, cfg, stage: Stage) -> set[int]:
    """Positions of the bytes whose every value is well-formed: keys, ciphertexts and packed
    field values (a flip there is a different valid message; TLS and the encryption catch it)."""
    msg = codec.decode(wire, cfg, {Stage.ADVERTISE_KEYS: AdvertiseKey,
                                   Stage.SHARE_MASKS: ShareMasks, Stage.MASKED_INPUT: MaskedInput,
                                   Stage.AGGREGATE_MASK: AggregateReply}[stage])
    if isinstance(msg, AdvertiseKey):
        blobs = [msg.c_pk]
    elif isinstance(msg, ShareMasks):
        blobs = [b for _, b in msg.sealed]
    else:
        blobs = [codec.pack_field(msg.vector)]
    out: set[int] = set()
    for blob in blobs:
        at = wire.index(blob)
        out.update(range(at, at + len(blob)))
    return out


@pytest.mark.parametrize("stage", [Stage.ADVERTISE_KEYS, Stage.SHARE_MASKS, Stage.MASKED_INPUT,
                                   Stage.AGGREGATE_MASK])
def test_server_refuses_corrupted_messages_and_stays_put(stage: Stage) -> None:
    r = Round(config(7, 4, 2, vector_length=9))
    r.to(stage)
    replies = r.replies()
    good = replies[3]
    r.deliver({1: replies[1]})
    before = _server_snapshot(r)
    payload = _payload_bytes(good, r.config, stage)
    framing = [at for at in range(len(good)) if at not in payload]
    bad = [good[:cut] for cut in range(len(good))] + [good + b"\x00"]
    for at in framing:
        for bit in range(8):
            flipped = bytearray(good)
            flipped[at] ^= 1 << bit
            bad.append(bytes(flipped))
    for data in bad:
        with pytest.raises(SecAggError):
            r.server.receive(3, data)
        after = _server_snapshot(r)
        assert after[:3] == before[:3] and after[3] == before[3]
    with pytest.raises(ProtocolViolation):
        r.server.receive(4, replies[3])  # another client's message on 4's connection
    with pytest.raises(ProtocolViolation):
        r.server.receive(1, replies[1])  # twice
    with pytest.raises(ProtocolViolation):
        r.server.receive(99, replies[3])  # nobody of this round
    r.deliver({u: m for u, m in replies.items() if u != 1})
    r.close()
    r.check()


def test_server_refuses_keys_it_cannot_use_and_misaddressed_submasks() -> None:
    r = Round(config(6, 3, 1))
    replies = r.replies()
    r.deliver({1: replies[1]})
    copied = codec.encode(AdvertiseKey(2, codec.decode(replies[1], r.config, AdvertiseKey).c_pk),
                          r.config)
    low_order = codec.encode(AdvertiseKey(2, bytes(32)), r.config)
    for bad in (copied, low_order):
        with pytest.raises(ProtocolViolation):
            r.server.receive(2, bad)
    r.deliver({u: m for u, m in replies.items() if u != 1})
    r.close()
    share = r.replies()
    m = codec.decode(share[2], r.config, ShareMasks)
    for sealed in (m.sealed[1:], m.sealed + ((2, m.sealed[0][1]),)):
        with pytest.raises((ProtocolViolation, MalformedMessage)):
            r.server.receive(2, codec.encode(ShareMasks(2, tuple(sorted(sealed))), r.config))
    r.deliver(share)
    r.close()
    masked = r.replies()
    y = codec.decode(masked[2], r.config, MaskedInput)
    with pytest.raises(ProtocolViolation):  # refusing itself, or someone who did not deal
        r.server.receive(2, codec.encode(MaskedInput(2, y.vector, (2,)), r.config))
    r.deliver(masked)
    r.close()
    r.check()


def test_client_checks_the_key_list_and_stays_put() -> None:
    r = Round(config(6, 3, 1))
    r.stage()
    cfg = r.config
    good = codec.decode(r.to_clients[1], cfg, PublicKeys)
    ks = good.keys
    cases = {
        "missing own": (PublicKeys(ks[1:]), ProtocolViolation),
        "altered own": (PublicKeys(((1, ks[1][1]),) + ks[1:]), ProtocolViolation),
        "repeated key": (PublicKeys(ks[:-1] + ((6, ks[2][1]),)), ProtocolViolation),
        "too few": (PublicKeys(ks[:3]), AbortError),
    }
    for name, (bad, exc) in cases.items():
        with pytest.raises(exc):
            r.client_step(1, codec.encode(bad, cfg))
        assert r.clients[1].stage is Stage.SHARE_MASKS, name
    wire = r.to_clients[1]
    key_bytes = {at for _, k in ks for at in range(wire.index(k), wire.index(k) + 32)}
    for bad_bytes in _flips(wire, 3):  # framing flips; a flipped key is another valid key
        changed = next(i for i, (a, b) in enumerate(zip(bad_bytes, wire, strict=True)) if a != b)
        if changed in key_bytes:
            continue
        with pytest.raises(SecAggError):
            r.client_step(1, bad_bytes)
        assert r.clients[1].stage is Stage.SHARE_MASKS
    with pytest.raises(OutOfOrder):
        r.clients[1].aggregate_mask(r.to_clients[1])
    with pytest.raises(OutOfOrder):
        r.client_step(1, codec.encode(Survivors((1, 2)), cfg))
    r.check()


def test_client_refuses_submasks_it_cannot_open_and_the_dealer_is_left_out() -> None:
    cfg = config(7, 4, 2, vector_length=11)
    r = Round(cfg)
    r.to(Stage.MASKED_INPUT)
    good = r.to_clients[2]
    dealt = codec.decode(good, cfg, SubMasks)
    with pytest.raises(ProtocolViolation):
        r.client_step(2, codec.encode(SubMasks(3, dealt.sealed), cfg))
    with pytest.raises(AbortError):  # too few sub-masks: a typed error, nothing changes
        r.client_step(2, codec.encode(SubMasks(2, dealt.sealed[:2]), cfg))
    with pytest.raises(WrongSession):
        r.client_step(2, codec.encode(dealt, config(7, 4, 2, vector_length=11,
                                                    session_id=b"x" * len(cfg.session_id))))
    assert r.clients[2].stage is Stage.MASKED_INPUT
    ct = dict(dealt.sealed)
    swapped = tuple((v, ct[4] if v == 5 else ct[5] if v == 5 - 1 else ct[v]) for v in sorted(ct))
    wire = r.client_step(2, codec.encode(SubMasks(2, swapped), cfg))
    assert codec.decode(wire, cfg, MaskedInput).refused == (4, 5)
    r.deliver({**r.replies([u for u in cfg.client_ids if u != 2]), 2: wire})
    r.close()
    assert r.server.reported == {4: frozenset({2}), 5: frozenset({2})}
    r.check()
    assert r.server.included == frozenset({1, 2, 3, 6, 7})


def test_client_checks_the_survivor_set_and_answers_once() -> None:
    cfg = config(8, 4, 2, vector_length=5)
    r = Round(cfg)
    r.to(Stage.MASKED_INPUT)
    r.stage([1, 2, 3, 4, 5, 6, 7])  # 8 drops before its masked input
    honest = codec.decode(r.to_clients[1], cfg, Survivors)
    assert honest.alive == (1, 2, 3, 4, 5, 6, 7)
    with pytest.raises(ProtocolViolation):  # itself missing
        r.client_step(1, codec.encode(Survivors((2, 3, 4, 5, 6, 7)), cfg))
    with pytest.raises(AbortError):  # fewer survivors than the budget allows
        r.client_step(1, codec.encode(Survivors((1, 2, 3, 4)), cfg))
    r2 = Round(cfg)
    r2.to(Stage.MASKED_INPUT)
    r2.stage([1, 2, 3, 4, 5, 6, 7, 8])
    r2.clients[1]._refused = frozenset({8})
    with pytest.raises(ProtocolViolation):  # a dealer it refused
        r2.client_step(1)
    assert r.clients[1].stage is Stage.AGGREGATE_MASK
    reply = r.client_step(1)
    with pytest.raises(OutOfOrder):  # never a second reply, for any survivor set
        r.client_step(1, codec.encode(Survivors((1, 2, 3, 4, 5, 6)), cfg))
    r.server.receive(1, reply)
    r.deliver(r.replies([2, 3, 4, 5, 6, 7]))
    r.close()
    r.check()


def _tampered_round(n: int, u: int, t: int, tamper: dict[int, np.ndarray],
                    silent: tuple[int, ...] = ()) -> Round:
    """A round to its replies; the replies of ``tamper`` get those vectors added mod p."""
    cfg = config(n, u, t, vector_length=13)
    r = Round(cfg)
    r.to(Stage.AGGREGATE_MASK)
    replies = r.replies([v for v in r.to_clients if v not in silent])
    for v, delta in tamper.items():
        m = codec.decode(replies[v], cfg, AggregateReply)
        bad = ((m.vector.astype(np.uint64) + delta) % np.uint64(PRIME)).astype(np.uint32)
        replies[v] = codec.encode(AggregateReply(v, bad), cfg)
    r.deliver(replies)
    return r


def _delta(cfg_len: int, at: int = 0, value: int = 1) -> np.ndarray:
    d = np.zeros(cfg_len, dtype=np.uint64)
    d[at] = value
    return d


def test_one_wrong_reply_with_one_spare_aborts() -> None:
    r = _tampered_round(8, 5, 2, {3: _delta(config(8, 5, 2, vector_length=13).piece_length)},
                        silent=(7, 8))
    with pytest.raises(AbortError) as err:
        r.close()
    assert "withheld" in str(err.value)
    assert r.server.stage is Stage.ABORTED
    with pytest.raises(OutOfOrder):
        r.server.result()


def test_one_wrong_reply_aborts_wherever_it_sits() -> None:
    length = config(9, 5, 2, vector_length=13).piece_length
    for liar in (1, 4, 9):  # among the first U (the decoding set) and among the checks
        r = _tampered_round(9, 5, 2, {liar: _delta(length, 2, 12345)})
        with pytest.raises(AbortError, match="withheld"):
            r.close()
        assert r.server.disagreeing  # where the code broke: 9's check, or every check
        assert liar in r.server.disagreeing or liar <= 5


def test_why_no_correction_two_liars_make_an_honest_reply_look_wrong() -> None:
    """5 replies, U = 3: the check catches any 2 wrong ones. Clients 8 and 11 add the same
    vector; then leaving out honest 12 leaves 8, 9, 10, 11 consistent (the error polynomial
    c(x − α_9)(x − α_10) takes equal values at α_8 and α_11), and a decoder that "corrected"
    one reply would return a wrong sum. Ours aborts."""
    cfg = config(12, 3, 2, vector_length=13)
    delta = _delta(cfg.piece_length)
    r = _tampered_round(12, 3, 2, {8: delta, 11: delta}, silent=tuple(range(1, 8)))
    replies = {u: m.vector for u, m in r.server._inbox.items()}
    without_12 = {u: v for u, v in replies.items() if u != 12}
    assert coding.decode(cfg, without_12)[1] == ()  # consistent, and wrong
    with pytest.raises(AbortError):
        r.close()


@given(st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_up_to_spare_wrong_replies_never_give_a_wrong_sum(data) -> None:
    n = data.draw(st.integers(5, 12))
    u = data.draw(st.integers(2, n - 1))
    t = data.draw(st.integers(1, u - 1))
    cfg = config(n, u, t, vector_length=13)
    silent = tuple(data.draw(st.lists(st.sampled_from(range(1, n + 1)), unique=True,
                                      max_size=n - u - 1)))
    replying = [v for v in cfg.client_ids if v not in silent]
    liars = data.draw(st.lists(st.sampled_from(replying), unique=True, min_size=1,
                               max_size=len(replying) - u))
    tamper = {v: np.array(data.draw(st.lists(st.integers(0, PRIME - 1), min_size=cfg.piece_length,
                                             max_size=cfg.piece_length)), dtype=np.uint64)
              for v in liars}
    tamper = {v: d for v, d in tamper.items() if d.any()}
    r = _tampered_round(n, u, t, tamper, silent)
    try:
        r.close()
    except AbortError:
        assert tamper
        return
    assert not tamper
    np.testing.assert_array_equal(r.server.result(), expected_sum(r.inputs, r.server.included))


def test_the_documented_limit_more_coordinated_liars_than_spares() -> None:
    """With U + 1 replies, two liars who know the other points can add a polynomial of degree
    < U that vanishes at the U − 1 honest points: the check passes and the sum moves (by 1 at
    the chosen coordinate, and at the same coordinate of the other pieces). This is the limit
    the subpackage states: more wrong replies than (replies − U) are outside the guarantee."""
    cfg = config(8, 5, 2, vector_length=13)
    ids = list(cfg.client_ids[:6])  # 7 and 8 are silent: U + 1 = 6 replies
    liars, honest = ids[-2:], ids[:-2]
    piece, at = 0, 3  # shift coordinate 3 of the first piece
    a = coding.alpha(cfg, ids)
    target = int(coding.beta(cfg)[piece])
    prod = lambda x: np.prod([(x - int(h)) % PRIME for h in a[: len(honest)]], dtype=object)  # noqa: E731
    scale = (-1 * pow(int(prod(target) % PRIME), PRIME - 2, PRIME)) % PRIME  # δ(β) = −1
    tamper = {}
    for v, x in zip(liars, a[len(honest):], strict=True):
        d = np.zeros(cfg.piece_length, dtype=np.uint64)
        d[at] = scale * int(prod(int(x)) % PRIME) % PRIME
        tamper[v] = d
    r = _tampered_round(8, 5, 2, tamper, silent=(7, 8))
    r.close()
    got, want = r.server.result(), expected_sum(r.inputs, r.server.included)
    assert int(got[at]) == int(want[at]) + 1  # the check passed; the sum is wrong
    moved = np.flatnonzero(got != want)
    assert set(moved.tolist()) <= {at + k * cfg.piece_length for k in range(cfg.pieces)}


def test_public_key_check_matches_secagg() -> None:
    """The server refuses the keys SecAgg's server refuses (non-canonical, low order)."""
    with pytest.raises(ProtocolViolation):
        keys.check_public_point(bytes(32))


def test_a_dealer_off_the_code_is_caught_by_the_replies() -> None:
    """Dealer 2 seals client 5 a sub-mask that is no row of its code word (valid field elements,
    properly sealed): nobody can tell until the replies, which then disagree; the round aborts."""
    cfg = config(8, 4, 2, vector_length=13)
    r = Round(cfg)
    r.to(Stage.SHARE_MASKS)
    replies = r.replies()
    m = codec.decode(replies[2], cfg, ShareMasks)
    off = np.arange(cfg.piece_length, dtype=np.uint32) + np.uint32(7)
    forged = r.clients[2]._seal(r.clients[2]._peers[5], 5, off)
    sealed = tuple((v, forged if v == 5 else ct) for v, ct in m.sealed)
    replies[2] = codec.encode(ShareMasks(2, sealed), cfg)
    r.deliver(replies)
    r.close()
    r.stage()
    r.deliver(r.replies())
    with pytest.raises(AbortError, match="withheld"):
        r.close()
