"""simulate_round's contract (its docstring): result fields, stats keys, byte counts, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import protocols
from protocols import AbortError, RoundResult, SecAggConfig, simulate_round
from protocols.wire import idset_bytes, known_array
from secagg.csprng import AesCtrRandom

from .helpers import SESSION, config, expected_sum, random_inputs

FIGURES = {"server_s", "client_mean_s", "client_max_s", "bytes_up_per_client",
           "bytes_down_per_client"}


def test_public_names() -> None:
    for name in ("SecAggConfig", "SecAggClient", "SecAggServer", "simulate_round", "RoundResult",
                 "Stage", "SecAggError", "AbortError", "MalformedMessage", "WrongSession",
                 "ProtocolViolation", "AuthenticationError", "OutOfOrder"):
        assert name in protocols.__all__ and hasattr(protocols, name)


@pytest.mark.parametrize("malicious", [False, True])
def test_stats_have_the_documented_shape(malicious: bool) -> None:
    cfg = config(8, threshold=5, malicious=malicious, vector_length=100, modulus_bits=20)
    inputs = random_inputs(cfg, 3)
    res = simulate_round(cfg, inputs, {"masked_input": [2]}, rng=AesCtrRandom(seed=b"s" * 32))
    assert isinstance(res, RoundResult) and res.included == frozenset(cfg.client_ids) - {2}
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))
    stats = res.stats
    assert FIGURES <= set(stats) and set(stats["stages"]) == (
        {"advertise_keys", "share_keys", "masked_input", "unmask"}
        | ({"consistency_check"} if malicious else set())
    )
    for figures in stats["stages"].values():
        assert set(figures) == FIGURES and all(v >= 0 for v in figures.values())
    assert stats["client_max_s"] >= stats["client_mean_s"] > 0 and stats["server_s"] > 0
    masked = stats["stages"]["masked_input"]
    packed = (100 * 20 + 7) // 8
    refused = len(idset_bytes((), known_array(cfg)))  # the smaller of an empty list and bitmap
    header = 4 + 2 + 2 + len(SESSION) + 4 + 1 + 4 + 4 + refused  # magic, version/type, session,
    # sender, bits, length, packed size, and the (empty) set of refused dealers
    # per stage: the mean over the clients that ran it (client 2 was already silent)
    assert masked["bytes_up_per_client"] == packed + header
    assert stats["bytes_up_per_client"] > packed + header


def test_arguments_are_checked() -> None:
    cfg = config(5, threshold=3)
    inputs = random_inputs(cfg, 1)
    with pytest.raises(ValueError, match="stage"):
        simulate_round(cfg, inputs, {"consistency_check": [1]})  # not a stage of this mode
    with pytest.raises(ValueError, match="missing"):
        simulate_round(cfg, {u: inputs[u] for u in (1, 2)})


def test_abort_names_stage_needed_and_received() -> None:
    cfg = config(6, threshold=4)
    with pytest.raises(AbortError) as info:
        simulate_round(cfg, random_inputs(cfg, 1), {"share_keys": [1, 2, 3]})
    assert (info.value.stage, info.value.needed, info.value.received) == ("share_keys", 4, 3)


@pytest.mark.parametrize("malicious", [False, True])
def test_secagg_plus_with_the_finders_parameters(malicious: bool) -> None:
    """n = 120 on the finder's sparse graph, 10 % silent before the masked input: exact sum."""
    cfg = SecAggConfig.for_secagg_plus(range(1, 121), 8, dropout=0.1, malicious=malicious,
                                       session_id=SESSION)
    assert not cfg.complete and cfg.degree < 60
    inputs = random_inputs(cfg, 5)
    drops = {"masked_input": list(range(3, 121, 10))}
    res = simulate_round(cfg, inputs, drops, rng=AesCtrRandom(seed=b"p" * 32))
    assert res.included == frozenset(cfg.client_ids) - set(drops["masked_input"])
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))
    # a client talks to its k neighbours only: its download is O(k), not O(n)
    assert res.stats["stages"]["masked_input"]["bytes_down_per_client"] < 300 * (cfg.degree + 1)


def test_design_contract_with_nacl_signing_keys() -> None:
    """Malicious clients take a nacl SigningKey and the PKI as raw verify keys."""
    import nacl.signing

    from protocols import SecAggClient, SecAggServer

    cfg = config(5, threshold=3, malicious=True)
    sks = {u: nacl.signing.SigningKey.generate() for u in cfg.client_ids}
    pki = {u: bytes(k.verify_key) for u, k in sks.items()}
    server = SecAggServer(cfg, verify_keys=pki)
    clients = {u: SecAggClient(cfg, u, signing_key=sks[u], verify_keys=pki) for u in sks}
    inputs = random_inputs(cfg, 9)
    msgs = {u: None for u in clients}
    steps = ["advertise_keys", "share_keys", "masked_input", "consistency_check", "unmask"]
    for step in steps:
        for u, c in clients.items():
            if step == "advertise_keys":
                out = c.advertise_keys()
            elif step == "masked_input":
                out = c.masked_input(msgs[u], inputs[u])
            else:
                out = getattr(c, step)(msgs[u])
            server.receive(u, out)
        msgs = server.close_stage()
    np.testing.assert_array_equal(server.result(), expected_sum(cfg, inputs, cfg.client_ids))
    assert server.included == frozenset(cfg.client_ids) and server.stage.value == "done"
    with pytest.raises(ValueError, match="verify_keys"):
        SecAggServer(cfg)


@pytest.mark.parametrize("workers", [1, 3])
def test_server_unmasks_in_chunks_of_vector_and_seeds(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Tiny chunks (7 values per kernel call, 3 self seeds per job) on 1 or 3 threads give the
    same exact sum: the keystream offsets line up across chunks and the per-thread partial sums
    add up, so the kernel's working set stays bounded for any m."""
    import protocols.secagg.server as server_mod
    from secagg import masking

    monkeypatch.setattr(masking, "CHUNK_BYTES", 7 * 8)
    monkeypatch.setattr(masking, "default_workers", lambda: workers)
    monkeypatch.setattr(server_mod, "SELF_SEED_BATCH", 3)
    cfg = config(9, threshold=5, vector_length=50, modulus_bits=37)
    inputs = random_inputs(cfg, 11)
    res = simulate_round(cfg, inputs, {"masked_input": [2, 5], "unmask": [7]},
                         rng=AesCtrRandom(seed=b"c" * 32))
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))


def test_progress_closes_each_stage_once() -> None:
    cfg = config(60, threshold=40, max_dropouts=3, vector_length=4)
    calls: list[tuple[str, int, int]] = []
    simulate_round(cfg, random_inputs(cfg, 2), {"masked_input": [5]},
                   progress=lambda *a: calls.append(a))
    closes = [stage for stage, done, total in calls if done == total]
    assert closes == ["advertise_keys", "share_keys", "masked_input", "unmask"]
    assert all(done <= total for _, done, total in calls)
    assert len(calls) > len(closes)  # and some reports before each close
