"""Secure FedAvg end to end: the secure step equals the plain one within the stated bound, with
dropouts at every stage, deadlines, aborts (round skipped, model unchanged) and malicious mode."""

from __future__ import annotations

import numpy as np
import pytest

from fl_integration import (
    FedAvgConfig,
    PlainAggregator,
    RoundContext,
    RoundPlan,
    SecAggAggregator,
    Simulation,
    flatten,
    run_fedavg,
)
from fl_integration.quantization import WeightedEncoding

from .conftest import expected_step, initial, make_shift_clients

DIM = 7


def _plan(n: int, dropouts: dict[str, set[int]], late: dict[str, set[int]] | None = None,
          deadline: float | None = None, stages=("advertise_keys", "share_keys", "masked_input",
                                                 "unmask")) -> RoundPlan:
    ids = tuple(range(1, n + 1))
    late = late or {}
    latency = {s: {c: (9.0 if c in late.get(s, ()) else 0.01) for c in ids} for s in stages}
    return RoundPlan(round=1, sampled=ids, stages=stages,
                     dropouts={s: frozenset(dropouts.get(s, ())) for s in stages},
                     latency=latency, deadline=deadline)


def _ctx(plan: RoundPlan, clip: float = 1.0, max_weight: float = 64.0) -> RoundContext:
    def codec(n, n_min, *, colluders=None, max_bits=None):
        return WeightedEncoding.fit(dimension=DIM, bits=min(32, max_bits or 32), clip=clip,
                                    max_summands=n, max_weight=max_weight)
    return RoundContext(1, plan, codec)


def _inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    updates = {c: rng.uniform(-1, 1, DIM) for c in range(1, n + 1)}
    weights = {c: float(rng.integers(1, 65)) for c in range(1, n + 1)}
    return updates, weights


@pytest.mark.parametrize("plus", [False, True])
def test_dropouts_at_every_stage_and_the_bound(plus):
    n = 15  # t = 11: the 11 left at unmasking are enough
    plan = _plan(n, {"advertise_keys": {1}, "share_keys": {2}, "masked_input": {3},
                     "unmask": {4}})
    updates, weights = _inputs(n)
    secure = SecAggAggregator(plus=plus).aggregate(updates, weights, _ctx(plan))
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert secure.survivors == plain.survivors == frozenset(range(4, n + 1))  # 4 sent its input
    assert secure.total_weight == plain.total_weight  # integer weights sum exactly
    bound = secure.stats["quantization_bound"]
    assert 0 < bound < 1e-6
    err = np.abs(secure.sum_vector / secure.total_weight - plain.sum_vector / plain.total_weight)
    assert err.max() < bound
    stages = secure.stats["stages"]
    assert list(stages) == ["advertise_keys", "share_keys", "masked_input", "unmask"]
    assert stages["masked_input"]["sent"] == n - 3 and secure.stats["bytes_up"] > 0


def test_deadline_turns_a_straggler_into_a_dropout():
    n = 8
    plan = _plan(n, {}, late={"masked_input": {5}, "unmask": {6}}, deadline=1.0)
    updates, weights = _inputs(n, seed=1)
    out = SecAggAggregator().aggregate(updates, weights, _ctx(plan))
    assert out.survivors == frozenset(range(1, n + 1)) - {5}  # 6 was late only for unmasking
    assert out.stats["stages"]["masked_input"]["simulated_s"] == 1.0  # the server waited it out
    assert out.stats["stages"]["advertise_keys"]["simulated_s"] == pytest.approx(0.01)
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert out.survivors == plain.survivors


def test_malicious_mode_round():
    n = 6
    stages = ("advertise_keys", "share_keys", "masked_input", "consistency_check", "unmask")
    plan = _plan(n, {"consistency_check": {2}}, stages=stages)
    updates, weights = _inputs(n, seed=2)
    agg = SecAggAggregator(malicious=True)
    assert agg.stages == stages
    out = agg.aggregate(updates, weights, _ctx(plan))
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert out.survivors == frozenset(range(1, n + 1))
    err = np.abs(out.sum_vector / out.total_weight - plain.sum_vector / plain.total_weight)
    assert err.max() < out.stats["quantization_bound"]


@pytest.mark.parametrize("aggregator", ["secagg", "secagg+"])
def test_fedavg_round_equals_plain_step_within_bound(aggregator):
    clients = make_shift_clients(15, DIM, seed=4)
    sim = Simulation(clients_per_round=10, dropout=0.1, seed=2)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator=aggregator, clip=1.0, rounds=1,
                                                         max_weight=50, simulation=sim))
    rec = res.history.records[0]
    assert rec.skipped is None and rec.bytes_up > 0 and rec.seconds > 0
    assert set(rec.stage_seconds) == {"advertise_keys", "share_keys", "masked_input", "unmask"}
    got, _ = flatten(res.parameters)
    assert np.abs(got - expected_step(clients, rec.survivors)).max() < rec.quantization_bound


def test_same_seed_plain_and_secure_reach_the_same_model():
    clients = make_shift_clients(20, DIM, seed=5)
    sim = Simulation(clients_per_round=8, dropout=0.1, seed=9)
    runs = {
        name: run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator=name, clip=1.0, rounds=4,
                                                             max_weight=50, simulation=sim))
        for name in ("plain", "secagg")
    }
    plain, secure = runs["plain"].history, runs["secagg"].history
    assert [r.survivors for r in plain] == [r.survivors for r in secure]
    bound = sum(r.quantization_bound for r in secure)  # errors of linear steps add up
    diff = flatten(runs["plain"].parameters)[0] - flatten(runs["secagg"].parameters)[0]
    assert 0 < np.abs(diff).max() < bound < 1e-5


def test_abort_skips_round_and_keeps_model():
    clients = make_shift_clients(6, DIM, seed=6)
    # 3 of 6 late at masked_input: t = 5 for n = 6, so the round must abort there
    sim = Simulation(clients_per_round=6, deadline=1.0,
                     latency=lambda r, c, s: 5.0 if (r == 1 and c <= 3 and s == "masked_input") else 0.1)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="secagg", clip=1.0, rounds=2,
                                                         max_weight=50, simulation=sim),
                     evaluate_fn=lambda p: (0.0, {"accuracy": float(np.abs(flatten(p)[0]).sum())}))
    first, second = res.history.records
    assert first.skipped is not None and "masked_input" in first.skipped
    assert first.accuracy == 0.0  # evaluated on the unchanged (zero) model
    assert first.bytes_up > 0  # what the aborted round cost is still reported
    assert second.skipped is None
    got, _ = flatten(res.parameters)
    assert np.abs(got - expected_step(clients, second.survivors)).max() < second.quantization_bound


def test_lightsecagg_step_equals_plain_within_the_bound_with_dropouts():
    """LightSecAgg through the FL layer: its sum lives in GF(2^31 - 1), so the codec gets the
    narrower width the field leaves; the step still equals plain FedAvg within the bound."""
    from fl_integration.aggregators import LIGHTSECAGG_STAGES, LightSecAggAggregator

    n = 15
    plan = _plan(n, {"advertise_keys": {1}, "share_masks": {2}, "masked_input": {3},
                     "aggregate_mask": {4}}, stages=LIGHTSECAGG_STAGES)
    updates, weights = _inputs(n)
    secure = LightSecAggAggregator(expected_dropout=0.3).aggregate(updates, weights, _ctx(plan))
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert secure.survivors == plain.survivors == frozenset(range(4, n + 1))
    assert secure.stats["bits"] < 32 and list(secure.stats["stages"]) == list(LIGHTSECAGG_STAGES)
    err = np.abs(secure.sum_vector / secure.total_weight - plain.sum_vector / plain.total_weight)
    assert err.max() < secure.stats["quantization_bound"] < 1e-4


def test_fedavg_runs_lightsecagg_by_name():
    clients = make_shift_clients(12, DIM, seed=21)
    sim = Simulation(clients_per_round=12, dropout=0.1, seed=4)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="lightsecagg", clip=1.0,
                                                         rounds=2, simulation=sim))
    assert all(r.skipped is None for r in res.history)
    plain = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="plain", clip=1.0,
                                                           rounds=2, simulation=sim))
    got, want = flatten(res.parameters)[0], flatten(plain.parameters)[0]
    assert np.abs(got - want).max() < 1e-3
