"""Property tests of whole rounds: any dropout schedule gives the exact sum of U3 or an abort.

Random n (3..60), threshold, complete or sparse graph, dropout and corruption budgets, modulus
bits, semi-honest or malicious, and clients going silent before any stage's message. The law: the
round returns exactly Σ_{u∈U3} x_u mod 2^b (checked with Python integers), U3 excludes every
client that went silent before its masked input and has at least n - D members, or the round
raises AbortError saying it got fewer answers than it needed. A wrong sum is never returned.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from protocols import AbortError, SecAggConfig, simulate_round
from protocols.secagg.params import corrupt_neighbor_bound
from protocols.secagg.stages import flow_of, stages_of
from secagg.csprng import AesCtrRandom

from .helpers import expected_sum, random_inputs


def _complete(draw: st.DrawFn, n: int, mal: bool) -> dict[str, int | None]:
    """t, and budgets anywhere up to what t tolerates (None: the default, all of it)."""
    lo = n // 2 + 1 if mal else 2  # malicious: 2t > n
    t = draw(st.integers(max(lo, 2), n))
    drops = draw(st.none() | st.integers(0, n - t))
    most = min(2 * t - n - 1 if mal else t - 1, t - 2 if drops is None else n - drops - 2)
    return {"threshold": t, "neighbors": None, "max_dropouts": drops,
            "max_corrupt": draw(st.none() | st.integers(0, most))}


def _sparse(draw: st.DrawFn, n: int, mal: bool) -> dict[str, int | None]:
    """k, C, then a t the finder's rules accept and D small enough that t neighbours survive."""
    k = draw(st.integers(2, min(n - 2, 10)))
    assume(not (k % 2 and n % 2))  # no k-regular Harary graph: refused by the config
    bad = draw(st.integers(0, min(3, k // 3)))
    a = corrupt_neighbor_bound(n, k, bad)
    lo = max(a + 1, 2, (k + 1 + a) // 2 + 1 if mal else 2)
    assume(lo <= k)
    t = draw(st.integers(lo, k))
    drops = draw(st.integers(0, min(k - t, k - bad - 1)))
    return {"threshold": t, "neighbors": k, "max_dropouts": drops, "max_corrupt": bad}


@st.composite
def schedules(draw: st.DrawFn, malicious: bool | None = None, max_n: int = 60):
    n = draw(st.integers(3, max_n))
    mal = draw(st.booleans()) if malicious is None else malicious
    sparse = n > 4 and (n > 20 or draw(st.booleans()))
    shape = _sparse(draw, n, mal) if sparse else _complete(draw, n, mal)
    bits = draw(st.sampled_from([8, 13, 16, 31, 32, 33, 48, 64]))
    ids = draw(st.lists(st.integers(1, 2**31 - 2), min_size=n, max_size=n, unique=True))
    cfg = SecAggConfig(client_ids=ids, vector_length=draw(st.integers(1, 12)), modulus_bits=bits,
                       malicious=mal, session_id=draw(st.binary(min_size=16, max_size=24)),
                       **shape)
    drop_rate = draw(st.sampled_from([0.0, 0.05, 0.15, 0.3]))
    dropouts = {}
    for stage in stages_of(flow_of(cfg)):
        dropouts[stage.value] = [u for u in ids if draw(st.floats(0, 1)) < drop_rate]
    return cfg, dropouts, draw(st.integers(0, 2**32))


def _check_round(cfg: SecAggConfig, dropouts: dict[str, list[int]], seed: int) -> str:
    inputs = random_inputs(cfg, seed)
    try:
        result = simulate_round(cfg, inputs, dropouts, rng=AesCtrRandom(seed=seed.to_bytes(32, "big")))
    except AbortError as exc:
        assert exc.received < exc.needed
        return "abort"
    silent = set().union(*(dropouts.get(s, []) for s in ("advertise_keys", "share_keys",
                                                         "masked_input")))
    assert result.included.isdisjoint(silent)
    assert len(result.included) >= max(cfg.t, cfg.min_survivors)
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
