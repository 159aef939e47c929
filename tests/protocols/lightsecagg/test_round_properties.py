"""Property tests of whole LightSecAgg rounds: the exact sum of U3 or an abort, never a wrong sum.

Random N (3..40), U, T, spare replies, budgets, input width, vector length, and clients going
silent before any stage's message. The law: the round returns exactly Σ_{i∈U3} x_i (Python
integers, never reduced), U3 excludes every client that went silent before its masked input and
has at least N − D members, or the round raises AbortError with fewer answers than it needed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from protocols.lightsecagg import STAGES, LightSecAggConfig, max_input_bits, simulate_round
from secagg.csprng import AesCtrRandom
from secagg.errors import AbortError

from .helpers import expected_sum, random_inputs


@st.composite
def rounds(draw: st.DrawFn, max_n: int = 40):
    n = draw(st.integers(3, max_n))
    spare = draw(st.integers(1, max(1, min(3, n - 2))))
    u = draw(st.integers(2, n - spare))
    t = draw(st.integers(1, u - 1))
    drops = draw(st.none() | st.integers(0, n - u - spare))
    d = n - u - spare if drops is None else drops
    most = min(t, n - d - 2)  # >= 1: d <= n - u - spare <= n - 3
    ids = draw(st.lists(st.integers(1, 2**31 - 2), min_size=n, max_size=n, unique=True))
    kw = {"client_ids": ids, "vector_length": draw(st.integers(1, 40)),
          "recovery_threshold": u, "privacy_threshold": t, "spare_replies": spare,
          "max_dropouts": drops, "session_id": draw(st.binary(min_size=16, max_size=24)),
          "input_bits": draw(st.none() | st.integers(1, max_input_bits(n)))}
    kw["max_corrupt"] = draw(st.none() | st.integers(0, most))
    cfg = LightSecAggConfig(**kw)
    rate = draw(st.sampled_from([0.0, 0.05, 0.15, 0.3]))
    schedule = {s.value: [u for u in ids if draw(st.floats(0, 1)) < rate] for s in STAGES}
    return cfg, schedule, draw(st.integers(0, 2**32))


def _check(cfg: LightSecAggConfig, schedule: dict[str, list[int]], seed: int) -> str:
    inputs = random_inputs(cfg, seed)
    try:
        result = simulate_round(cfg, inputs, schedule,
                                rng=AesCtrRandom(seed=seed.to_bytes(32, "big")))
    except AbortError as exc:
        assert exc.received < exc.needed
        before = set().union(*(schedule.get(s, []) for s in
                               ("advertise_keys", "share_masks", "masked_input")))
        if len(before) <= cfg.max_dropouts:  # within budget: only the replies can fall short
            assert exc.stage == "aggregate_mask" and exc.needed == cfg.min_replies
        return "abort"
    silent = set().union(*(schedule.get(s, []) for s in
                           ("advertise_keys", "share_masks", "masked_input")))
    assert result.included.isdisjoint(silent)
    assert len(result.included) >= cfg.min_survivors
    assert result.sum.dtype == np.uint64
    np.testing.assert_array_equal(result.sum, expected_sum(inputs, result.included))
    return "ok"


@given(rounds())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exact_sum_or_abort(case) -> None:
    event(_check(*case))


@given(rounds())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_dropouts_never_aborts(case) -> None:
    cfg, _, seed = case
    assert _check(cfg, {}, seed) == "ok"


def test_dropouts_up_to_the_budget_at_every_stage_complete() -> None:
    cfg = LightSecAggConfig(client_ids=range(1, 13), vector_length=50, recovery_threshold=6,
                            privacy_threshold=3, spare_replies=2, session_id=b"s" * 16)
    assert cfg.max_dropouts == 4 and cfg.min_replies == 8
    inputs = random_inputs(cfg, 1)
    schedule = {"advertise_keys": [1], "share_masks": [2], "masked_input": [3, 4]}
    result = simulate_round(cfg, inputs, schedule)
    assert result.included == frozenset(range(5, 13))
    np.testing.assert_array_equal(result.sum, expected_sum(inputs, result.included))


def test_one_dropout_past_the_budget_aborts_naming_the_numbers() -> None:
    cfg = LightSecAggConfig(client_ids=range(1, 13), vector_length=5, recovery_threshold=6,
                            privacy_threshold=3, max_dropouts=2, session_id=b"s" * 16)
    inputs = random_inputs(cfg, 1)
    with pytest.raises(AbortError) as err:
        simulate_round(cfg, inputs, {"share_masks": [1, 2], "masked_input": [3]})
    assert (err.value.stage, err.value.needed, err.value.received) == ("masked_input", 10, 9)


def test_exactly_u_replies_abort_rather_than_guess() -> None:
    cfg = LightSecAggConfig(client_ids=range(1, 11), vector_length=5, recovery_threshold=6,
                            privacy_threshold=2, session_id=b"s" * 16)
    inputs = random_inputs(cfg, 1)
    with pytest.raises(AbortError) as err:
        simulate_round(cfg, inputs, {"aggregate_mask": [1, 2, 3, 4]})
    assert (err.value.needed, err.value.received) == (7, 6)
    assert "check" in str(err.value)
    result = simulate_round(cfg, inputs, {"aggregate_mask": [1, 2, 3]})  # U + 1: fine
    np.testing.assert_array_equal(result.sum, expected_sum(inputs, cfg.client_ids))


def test_the_sum_is_exact_at_the_top_of_the_input_range() -> None:
    """Every client at 2^b − 1: the largest sum the config allows, still below p."""
    cfg = LightSecAggConfig(client_ids=range(1, 201), vector_length=7, recovery_threshold=150,
                            privacy_threshold=100, session_id=b"s" * 16)
    assert cfg.input_bits == 23
    top = (1 << 23) - 1
    inputs = {u: np.full(7, top, dtype=np.uint64) for u in cfg.client_ids}
    result = simulate_round(cfg, inputs)
    assert (result.sum == 200 * top).all()
