"""Round plans: seeded, sampling without replacement, dropouts by stage, deadlines."""

from __future__ import annotations

import pytest

from fl_integration.simulation import STAGES, Simulation, plan_round


def test_same_seed_same_plan_and_rounds_differ():
    sim = Simulation(clients_per_round=10, dropout=0.3, deadline=0.2, seed=7)
    ids = range(1, 51)
    a, b = plan_round(sim, 3, ids), plan_round(sim, 3, ids)
    assert a == b
    assert len(set(a.sampled)) == 10 and set(a.sampled) <= set(ids)
    assert plan_round(sim, 4, ids).sampled != a.sampled


def test_dropout_rate_and_input_survivors():
    sim = Simulation(clients_per_round=200, dropout=0.25, seed=1)
    plan = plan_round(sim, 1, range(1, 201))
    dropped = set().union(*plan.dropouts.values())
    assert 25 <= len(dropped) <= 75  # ~50 expected
    late_droppers = plan.dropouts["unmask"]
    # dropping at unmasking does not lose the input; dropping earlier does
    assert plan.input_survivors() == frozenset(plan.sampled) - (dropped - late_droppers)


def test_deadline_drops_stragglers():
    slow = {3, 5}
    sim = Simulation(clients_per_round=6, deadline=1.0,
                     latency=lambda r, c, s: 5.0 if c in slow and s == "share_keys" else 0.1)
    plan = plan_round(sim, 1, range(1, 7))
    assert plan.missing("share_keys") == frozenset(slow)
    assert plan.missing("advertise_keys") == frozenset()
    assert plan.input_survivors() == frozenset(range(1, 7)) - slow
    assert plan.stage_seconds("share_keys", [1, 2, 4, 6]) == 1.0  # waited for the deadline
    assert plan.stage_seconds("advertise_keys", list(range(1, 7))) == pytest.approx(0.1)


def test_stages_and_bad_settings():
    assert STAGES[0] == "advertise_keys" and STAGES[-1] == "unmask"
    for bad in (dict(dropout=1.0), dict(clients_per_round=0), dict(deadline=0.0)):
        with pytest.raises(ValueError):
            Simulation(**bad)


def test_a_stage_waits_the_deadline_only_for_clients_still_in_the_round() -> None:
    from fl_integration.simulation import RoundPlan

    stages = ("advertise_keys", "share_keys")
    latency = {s: {1: 0.1, 2: 0.2, 3: 0.3} for s in stages}
    plan = RoundPlan(round=1, sampled=(1, 2, 3), stages=stages, deadline=5.0, latency=latency,
                     dropouts={"advertise_keys": frozenset({3}), "share_keys": frozenset()})
    assert plan.stage_seconds("advertise_keys", [1, 2]) == 5.0  # 3 went silent: wait it out
    assert plan.stage_seconds("share_keys", [1, 2]) == pytest.approx(0.2)  # 3 is gone already
    late = RoundPlan(round=1, sampled=(1, 2, 3), stages=stages, deadline=5.0, latency=latency,
                     dropouts={"advertise_keys": frozenset(), "share_keys": frozenset({2})})
    assert late.stage_seconds("share_keys", [1, 3]) == 5.0
