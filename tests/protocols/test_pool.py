"""ClientPool: a round whose clients run in worker processes gives the same exact sums, stats
and errors as the in-process driver, and leaves the pool usable after a failure."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import AbortError, SecAggConfig, simulate_round
from protocols.pool import CHUNK, IN_FLIGHT, ClientPool, WorkerError, _read_work, _work
from secagg.csprng import AesCtrRandom
from secagg.errors import EncodingError

from .helpers import SESSION, config, expected_sum, random_inputs


@pytest.fixture(scope="module")
def pool() -> Iterator[ClientPool]:
    with ClientPool(2) as p:
        yield p


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(4, 24), stage=st.sampled_from(["share_keys", "masked_input", "unmask"]),
       drop_share=st.floats(0, 0.2), sparse=st.booleans(), seed=st.integers(0, 2**16))
def test_pooled_round_is_the_survivors_sum(pool: ClientPool, n: int, stage: str,
                                           drop_share: float, sparse: bool, seed: int) -> None:
    drops = int(drop_share * n)
    if sparse and n >= 8:
        cfg = SecAggConfig.for_secagg_plus(list(range(1, n + 1)), 32, dropout=0.2,
                                           min_sparse_clients=0, session_id=SESSION)
    else:
        cfg = config(n, threshold=n // 2 + 1, max_dropouts=max(drops, 1), vector_length=32)
    inputs = random_inputs(cfg, seed)
    gone = list(np.random.default_rng(seed).choice(cfg.client_ids, drops, replace=False))
    res = simulate_round(cfg, inputs, {stage: [int(u) for u in gone]}, pool=pool)
    sent_input = set(gone) if stage == "unmask" else set()  # silent after masking: counted
    assert res.included <= frozenset(cfg.client_ids) - set(gone) | sent_input
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))


def test_malicious_round_gets_every_verify_key(pool: ClientPool) -> None:
    cfg = config(9, threshold=6, malicious=True, vector_length=20)
    inputs = random_inputs(cfg, 7)
    res = simulate_round(cfg, lambda u: inputs[u], {"masked_input": [3]}, pool=pool)
    assert res.included == frozenset(cfg.client_ids) - {3}
    assert pool.verify_keys is not None and set(pool.verify_keys) == set(cfg.client_ids)
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))
    assert set(res.stats["stages"]) >= {"consistency_check", "unmask"}


def test_stats_and_bytes_match_the_in_process_driver(pool: ClientPool) -> None:
    cfg = config(10, threshold=6, vector_length=50, modulus_bits=20)
    inputs = random_inputs(cfg, 2)
    here = simulate_round(cfg, inputs, {"masked_input": [4]})
    there = simulate_round(cfg, inputs, {"masked_input": [4]}, pool=pool)
    assert here.included == there.included
    np.testing.assert_array_equal(here.sum, there.sum)
    for name, figures in here.stats["stages"].items():
        for key in ("bytes_up_per_client", "bytes_down_per_client"):
            assert there.stats["stages"][name][key] == figures[key], (name, key)
        assert there.stats["stages"][name]["client_mean_s"] > 0


def test_too_few_survivors_aborts_and_the_pool_goes_on(pool: ClientPool) -> None:
    cfg = config(6, threshold=5, max_dropouts=1)
    inputs = random_inputs(cfg, 3)
    with pytest.raises(AbortError) as info:
        simulate_round(cfg, inputs, {"masked_input": [1, 2, 3]}, pool=pool)
    assert info.value.received < info.value.needed
    res = simulate_round(cfg, inputs, {"masked_input": [6]}, pool=pool)
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))


def test_a_client_error_comes_back_typed_and_the_pool_goes_on(pool: ClientPool) -> None:
    cfg = config(300, threshold=200, max_dropouts=1, vector_length=8)
    inputs = random_inputs(cfg, 4)
    bad = dict(inputs)
    bad[250] = np.zeros(9, dtype=inputs[1].dtype)  # wrong length: EncodingError in the worker
    with pytest.raises(WorkerError, match="EncodingError"):
        simulate_round(cfg, bad, pool=pool)  # chunks of other clients were still in flight
    res = simulate_round(cfg, inputs, pool=pool)
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))


def test_arguments_are_checked(pool: ClientPool) -> None:
    cfg = config(5, threshold=3)
    with pytest.raises(ValueError, match="rng"):
        simulate_round(cfg, random_inputs(cfg, 1), pool=pool, rng=AesCtrRandom(seed=b"s" * 32))
    with pytest.raises(ValueError, match="processes"):
        ClientPool(0)
    with pytest.raises(ValueError, match="hosts"):
        pool.open_round("paillier", cfg)


def test_work_frames_round_trip() -> None:
    x = np.arange(5, dtype=np.uint64)
    tasks = [(1, None, None), (7, b"", x), (2**32 - 2, b"abc", x.astype("<u4"))]
    back = _read_work(memoryview(_work(tasks)))
    assert [(u, m) for u, m, _ in back] == [(u, m) for u, m, _ in tasks]
    assert back[0][2] is None
    for (_, _, got), (_, _, want) in zip(back[1:], tasks[1:], strict=True):
        assert got is not None and want is not None
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_close_stops_every_worker() -> None:
    p = ClientPool(1)
    procs = list(p._procs)
    assert p.peak_rss() > 0
    p.close()
    assert all(proc.poll() is not None for proc in procs)
    with pytest.raises(RuntimeError, match="closed"):
        p.open_round("secagg", config(4, threshold=3))


def test_vectors_are_made_chunk_by_chunk(pool: ClientPool) -> None:
    """A lazy ``inputs`` stays lazy with a pool: vectors are made as their chunk is sent, so when
    the first masked inputs come back only the chunks in flight have been made."""
    cfg = SecAggConfig.for_secagg_plus(list(range(1, 601)), 8, dropout=0.1,
                                       min_sparse_clients=0, session_id=SESSION)
    inputs = random_inputs(cfg, 5)
    made: list[int] = []
    seen: dict[str, int] = {}

    def vector(u: int) -> np.ndarray:
        made.append(u)
        return inputs[u]

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "masked_input" and done < total:
            seen.setdefault("made_at_first_reply", len(made))

    res = simulate_round(cfg, vector, progress=progress, pool=pool)
    np.testing.assert_array_equal(res.sum, expected_sum(cfg, inputs, res.included))
    in_flight = (IN_FLIGHT * pool.processes + 1) * CHUNK  # sent, plus one resent on a reply
    assert len(made) == 600 and seen["made_at_first_reply"] <= in_flight < 600


def test_a_vector_that_is_not_one_dimensional_is_refused_typed(pool: ClientPool) -> None:
    cfg = config(6, threshold=4, vector_length=1)
    inputs = {u: np.uint32(u) for u in cfg.client_ids}  # 0-d: in process, EncodingError too
    with pytest.raises(EncodingError, match="vector"):
        simulate_round(cfg, inputs, pool=pool)
    with pytest.raises(EncodingError, match="vector"):
        simulate_round(cfg, inputs)
    good = {u: np.array([u], dtype=np.uint32) for u in cfg.client_ids}
    assert int(simulate_round(cfg, good, pool=pool).sum[0]) == sum(cfg.client_ids)
