"""Stage deadlines: adaptive ones follow observed latencies within [low, high]; fixed ones work as
before; the history records each stage's deadline and who missed it."""

from __future__ import annotations

import numpy as np
import pytest

from fl_integration import AdaptiveDeadline, FedAvgConfig, Simulation, flatten, run_fedavg
from fl_integration.simulation import STAGES, plan_round
from secagg.errors import ConfigError

from .conftest import expected_step, initial, make_shift_clients

DIM = 6


def _run(sim: Simulation, rounds: int, aggregator: str = "plain", n: int = 6):
    clients = make_shift_clients(n, DIM, seed=1)
    return clients, run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator=aggregator, clip=1.0, rounds=rounds, max_weight=50, simulation=sim))


def test_deadlines_follow_latencies_and_history_records_them():
    """Everyone answers in 0.2 s: round 1 waits ``initial``, then margin × p90 = 0.3 s."""
    policy = AdaptiveDeadline(percentile=90, margin=1.5, low=0.05, high=2.0, initial=1.0)
    sim = Simulation(clients_per_round=6, deadline=policy, latency=lambda r, c, s: 0.2)
    _, res = _run(sim, rounds=3)
    first, second, third = res.history
    assert first.deadlines == dict.fromkeys(STAGES, 1.0)
    assert second.deadlines == pytest.approx(dict.fromkeys(STAGES, 0.3))
    assert third.deadlines == pytest.approx(dict.fromkeys(STAGES, 0.3))
    assert all(r.missed == {} and r.skipped is None for r in res.history)
    assert res.history.as_dicts()[1]["deadlines"]["masked_input"] == pytest.approx(0.3)


def test_initial_defaults_to_high_and_a_fast_federation_goes_down_to_low():
    policy = AdaptiveDeadline(high=2.0, low=0.05)
    sim = Simulation(clients_per_round=6, deadline=policy, latency=lambda r, c, s: 0.001)
    _, res = _run(sim, rounds=2)
    assert res.history.records[0].deadlines == dict.fromkeys(STAGES, 2.0)
    assert res.history.records[1].deadlines == dict.fromkeys(STAGES, 0.05)


def test_a_slow_federation_raises_the_deadline_bounded_by_high():
    """From round 3 every reply takes 1 s, longer than any deadline allows (high = 0.8): misses
    count as "at least the deadline", so the deadline grows by the margin each round and stops
    at high; every round records its deadline and that everyone missed it."""
    policy = AdaptiveDeadline(percentile=90, margin=1.5, low=0.05, high=0.8, initial=0.2,
                              window=2)
    sim = Simulation(clients_per_round=6, deadline=policy,
                     latency=lambda r, c, s: 0.1 if r <= 2 else 1.0)
    _, res = _run(sim, rounds=9)
    waits = [r.deadlines["advertise_keys"] for r in res.history]
    assert waits[:3] == pytest.approx([0.2, 0.15, 0.15])
    assert waits[3:] == sorted(waits[3:]) and waits[3] > waits[2]
    assert max(waits) == 0.8 and waits[-2:] == [0.8, 0.8]
    for rec in res.history.records[2:]:
        assert rec.skipped is not None
        assert rec.missed == {"advertise_keys": rec.sampled}


def test_a_slower_federation_is_caught_up_with():
    """Same slowdown with room (high = 3): each stage's deadline doubles past 1 s in turn (a
    stage is observed only once the ones before it pass), then rounds complete again and every
    deadline settles at margin × 1 s."""
    policy = AdaptiveDeadline(margin=2.0, low=0.05, high=3.0, initial=0.2, window=2)
    sim = Simulation(clients_per_round=6, deadline=policy,
                     latency=lambda r, c, s: 0.1 if r <= 2 else 1.0)
    _, res = _run(sim, rounds=16)
    waits = [r.deadlines["advertise_keys"] for r in res.history]
    assert waits[2:7] == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0])
    assert [r.skipped is None for r in res.history][10:12] == [False, True]  # masked_input passes
    last = res.history.records[-1]
    assert last.skipped is None and last.missed == {}
    assert last.deadlines == pytest.approx(dict.fromkeys(STAGES, 2.0))
    assert all(d <= 3.0 for r in res.history for d in r.deadlines.values())


@pytest.mark.parametrize("aggregator", ["plain", "secagg"])
def test_a_straggler_is_recorded_and_left_out(aggregator):
    """Client 3 always takes 5 s: it misses the first stage's deadline (recorded), is out of the
    round, the others' mean is the step; the median then sets the next deadlines."""
    policy = AdaptiveDeadline(percentile=50, margin=1.5, low=0.05, high=1.0)
    sim = Simulation(clients_per_round=6, deadline=policy,
                     latency=lambda r, c, s: 5.0 if c == 3 else 0.1)
    clients, res = _run(sim, rounds=2, aggregator=aggregator)
    first, second = res.history
    assert first.missed == second.missed == {"advertise_keys": (3,)}
    assert first.survivors == second.survivors == (1, 2, 4, 5, 6)
    assert first.deadlines == dict.fromkeys(STAGES, 1.0)
    # advertise_keys saw five 0.1 s replies and one miss (censored at 1 s): median 0.1
    assert second.deadlines == pytest.approx(dict.fromkeys(STAGES, 0.15))
    if aggregator == "secagg":  # the secure round waited out the deadline it was given
        assert first.stats["stages"]["advertise_keys"]["simulated_s"] == 1.0
        assert second.stats["stages"]["advertise_keys"]["simulated_s"] == pytest.approx(0.15)
    got = flatten(res.parameters)[0]
    bound = sum(r.quantization_bound for r in res.history) or 1e-12
    assert np.abs(got - 2 * expected_step(clients, first.survivors)).max() <= bound


def test_fixed_deadlines_are_unchanged_and_recorded():
    sim = Simulation(clients_per_round=6, deadline=1.0, dropout=0.0,
                     latency=lambda r, c, s: 5.0 if (c == 2 and s == "share_keys") else 0.1)
    _, res = _run(sim, rounds=2)
    for rec in res.history:
        assert rec.deadlines == dict.fromkeys(STAGES, 1.0)
        assert rec.missed == {"share_keys": (2,)}
        assert rec.survivors == (1, 3, 4, 5, 6)
    _, free = _run(Simulation(clients_per_round=6), rounds=1)
    assert free.history.records[0].deadlines == {} and free.history.records[0].missed == {}


def test_silent_clients_are_not_listed_as_late():
    sim = Simulation(clients_per_round=20, dropout=0.3, deadline=10.0, seed=3)
    clients_n = 20
    clients = make_shift_clients(clients_n, DIM, seed=2)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="plain", clip=1.0, rounds=1,
                                                         simulation=sim))
    rec = res.history.records[0]
    assert len(rec.survivors) < 20 and rec.missed == {}


def test_plan_round_with_a_policy_and_explicit_deadlines():
    policy = AdaptiveDeadline(high=4.0, initial=0.5)
    sim = Simulation(clients_per_round=4, deadline=policy, latency=lambda r, c, s: 0.7)
    plan = plan_round(sim, 1, range(1, 5))
    assert plan.deadline is None and plan.deadlines == dict.fromkeys(STAGES, 0.5)
    assert plan.missing("advertise_keys") == frozenset(plan.sampled)
    given = plan_round(sim, 1, range(1, 5), deadlines={s: 1.0 for s in STAGES})
    assert given.missing("advertise_keys") == frozenset()
    tracker = policy.start()
    tracker.observe(plan)  # all four missed 0.5 s: the next deadline is 1.5 × 0.5
    assert tracker.deadlines(STAGES)["advertise_keys"] == pytest.approx(0.75)
    assert tracker.deadlines(STAGES)["share_keys"] == 0.5  # nobody was left to ask: no news


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(high=0.0), "high must be a finite number > 0"),
    (dict(high=float("inf")), "high must be a finite number > 0"),
    (dict(high=1.0, low=2.0), "low must be <= high"),
    (dict(high=1.0, percentile=0), r"percentile must be in \(0, 100\]"),
    (dict(high=1.0, percentile=101), r"percentile must be in \(0, 100\]"),
    (dict(high=1.0, margin=0.5), "margin must be a finite number >= 1"),
    (dict(high=1.0, slack=-1.0), "slack must be a finite number >= 0"),
    (dict(high=1.0, low=0.1, initial=2.0), r"initial must be None or in \[low, high\]"),
    (dict(high=1.0, window=0), "window must be an int >= 1"),
])
def test_bad_policy_settings_name_the_parameter(kwargs, match):
    with pytest.raises(ConfigError, match=f"AdaptiveDeadline.{match}"):
        AdaptiveDeadline(**kwargs)


def test_simulation_accepts_seconds_a_policy_or_none():
    with pytest.raises(ConfigError, match="deadline must be > 0 seconds, AdaptiveDeadline"):
        Simulation(deadline="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Simulation(deadline=-1.0)
    assert Simulation(deadline=AdaptiveDeadline(high=1.0)).deadline == AdaptiveDeadline(high=1.0)
