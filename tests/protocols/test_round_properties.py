"""Property tests of whole rounds: any dropout schedule gives the exact sum of U3 or an abort.

Random n (3..60), threshold, complete or sparse graph, modulus bits, semi-honest or malicious, and
clients going silent before any stage's message. The law: the round returns exactly
Σ_{u∈U3} x_u mod 2^b (checked with Python integers), U3 excludes every client that went silent
before its masked input, or the round raises AbortError naming a stage with fewer than t answers.
A wrong sum is never returned.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from protocols import AbortError, SecAggConfig, simulate_round
from protocols.stages import stages_of
from secagg.csprng import AesCtrRandom

from .helpers import expected_sum, random_inputs


@st.composite
def schedules(draw: st.DrawFn, malicious: bool | None = None, max_n: int = 60):
    n = draw(st.integers(3, max_n))
    mal = draw(st.booleans()) if malicious is None else malicious
    sparse = n > 20 or draw(st.booleans())
    k = None
    if sparse:
        k = draw(st.integers(2 if n > 3 else 1, min(n - 1, 10)))
    degree = n - 1 if k is None else k
    lo = (degree + 1) // 2 + 1 if mal else 2  # malicious: 2t > |N[u]|
    t = draw(st.integers(lo, degree + 1))
    bits = draw(st.sampled_from([8, 13, 16, 31, 32, 33, 48, 64]))
    ids = draw(st.lists(st.integers(1, 2**31 - 2), min_size=n, max_size=n, unique=True))
    cfg = SecAggConfig(client_ids=ids, vector_length=draw(st.integers(1, 12)), threshold=t,
                       neighbors=k, modulus_bits=bits, malicious=mal,
                       session_id=draw(st.binary(min_size=16, max_size=24)))
    drop_rate = draw(st.sampled_from([0.0, 0.05, 0.15, 0.3]))
    dropouts = {}
    for stage in stages_of(mal):
        dropouts[stage.value] = [u for u in ids if draw(st.floats(0, 1)) < drop_rate]
    return cfg, dropouts, draw(st.integers(0, 2**32))


def _check_round(cfg: SecAggConfig, dropouts: dict[str, list[int]], seed: int) -> str:
    inputs = random_inputs(cfg, seed)
    try:
        result = simulate_round(cfg, inputs, dropouts, rng=AesCtrRandom(seed=seed.to_bytes(32, "big")))
    except AbortError as exc:
        assert exc.needed == cfg.threshold and exc.received < exc.needed
        return "abort"
    silent = set().union(*(dropouts.get(s, []) for s in ("advertise_keys", "share_keys",
                                                         "masked_input")))
    assert result.included.isdisjoint(silent)
    assert len(result.included) >= cfg.threshold
    assert result.sum.dtype == inputs[cfg.client_ids[0]].dtype
    assert (result.sum == expected_sum(cfg, inputs, result.included)).all()
    return "ok"


@given(schedules())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exact_sum_or_abort(case) -> None:
    event(_check_round(*case))


@given(schedules())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_dropouts_never_aborts(case) -> None:
    cfg, _, seed = case
    assert _check_round(cfg, {}, seed) == "ok"


@pytest.mark.slow
@given(schedules())
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exact_sum_or_abort_many(case) -> None:
    _check_round(*case)
