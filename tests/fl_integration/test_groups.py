"""Grouped secure aggregation: the public split of a cohort, sums per group and in total equal to
the plain ones within the bound, lost groups recorded and never folded into a wrong total,
FedAvg through the Aggregator seam, and (slow) the Ray executor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_integration import (
    FedAvgConfig,
    GroupedAggregator,
    PlainAggregator,
    RoundContext,
    RoundPlan,
    SecAggAggregator,
    Simulation,
    flatten,
    run_fedavg,
)
from fl_integration.groups import group_sizes, restrict_plan, round_seed, split_groups
from fl_integration.quantization import WeightedEncoding
from secagg.errors import AbortError, ConfigError

from .conftest import expected_step, initial, make_shift_clients

DIM = 6
SEED = round_seed(b"public beacon value", 1)


def _plan(ids, drops: dict[str, set[int]], stages) -> RoundPlan:
    ids = tuple(sorted(ids))
    return RoundPlan(round=1, sampled=ids, stages=stages,
                     dropouts={s: frozenset(drops.get(s, ())) for s in stages},
                     latency={s: dict.fromkeys(ids, 0.01) for s in stages}, deadline=None)


def _ctx(plan: RoundPlan) -> RoundContext:
    def codec(n, n_min, *, colluders=None, max_bits=None):
        return WeightedEncoding.fit(dimension=DIM, bits=min(32, max_bits or 32), clip=1.0,
                                    max_summands=n, max_weight=64.0)
    return RoundContext(1, plan, codec)


def _inputs(ids, seed: int = 0):
    rng = np.random.default_rng(seed)
    return ({c: rng.uniform(-1, 1, DIM) for c in ids}, {c: float(rng.integers(1, 65)) for c in ids})


# -- the split ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 400), min_size=st.integers(2, 50), salt=st.binary(min_size=0, max_size=4))
def test_split_is_a_balanced_deterministic_partition(n, min_size, salt):
    ids = [3 * i + 1 for i in range(n)]  # not 1..n: any distinct ids
    if n < min_size:
        with pytest.raises(ConfigError, match=f"{n} clients.*min_group_size={min_size}"):
            split_groups(ids, min_group_size=min_size, seed=SEED + salt)
        return
    groups = split_groups(ids, min_group_size=min_size, seed=SEED + salt)
    flat = [c for g in groups for c in g]
    assert sorted(flat) == ids and len(set(flat)) == n  # a partition
    sizes = [len(g) for g in groups]
    assert min(sizes) >= min_size and max(sizes) - min(sizes) <= 1
    assert len(groups) == n // min_size  # as many groups as the minimum allows
    assert all(list(g) == sorted(g) for g in groups)
    assert split_groups(list(reversed(ids)), min_group_size=min_size, seed=SEED + salt) == groups


def test_the_seed_not_the_server_decides_the_groups():
    ids = range(1, 301)
    a = split_groups(ids, min_group_size=30, seed=SEED)
    assert a != split_groups(ids, min_group_size=30, seed=round_seed(b"public beacon value", 2))
    assert a != tuple(tuple(range(1 + 30 * i, 31 + 30 * i)) for i in range(10))  # shuffled


def test_refused_cohorts_name_the_sizes():
    with pytest.raises(ConfigError, match="7 clients.*min_group_size=10"):
        split_groups(range(1, 8), min_group_size=10, seed=SEED)
    with pytest.raises(ConfigError, match="25 clients in 3 groups leave a group of 8 < "
                                          "min_group_size=10; use at most 2 groups"):
        split_groups(range(1, 26), min_group_size=10, seed=SEED, groups=3)
    with pytest.raises(ConfigError, match="seed"):
        split_groups(range(1, 26), min_group_size=10, seed=b"short")
    with pytest.raises(ConfigError, match="min_group_size"):
        group_sizes(25, 1)
    assert group_sizes(25, 10, groups=2) == [13, 12]


@pytest.mark.parametrize("kwargs, match", [
    ({"min_group_size": 1}, "min_group_size must be an int >= 2"),
    ({"min_group_size": 2, "inner": "lightsecagg"}, "min_group_size must be an int >= 3"),
    ({"min_group_size": 5, "inner": "paillier"}, "inner must be one of"),
    ({"min_group_size": 5, "on_abort": "ignore"}, "on_abort"),
    ({"min_group_size": 5, "workers": 2}, "workers applies to executor='ray'"),
    ({"min_group_size": 5, "executor": "threads"}, "executor must be"),
    ({"min_group_size": 5, "seed": b"short"}, "seed"),
])
def test_aggregator_config_is_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GroupedAggregator(**kwargs)


# -- sums -----------------------------------------------------------------------------------


@settings(max_examples=6, deadline=None)
@given(n=st.integers(16, 30), data=st.data())
def test_grouped_sum_equals_plain_per_group_and_in_total(n, data):
    agg = GroupedAggregator(min_group_size=8, expected_dropout=0.3)
    ids = range(1, n + 1)
    stages = agg.stages
    drops: dict[str, set[int]] = {s: set() for s in stages}
    for group in agg.split(ids, 1):  # within each group's 30% budget
        lost = data.draw(st.lists(st.sampled_from(group), max_size=len(group) * 3 // 10,
                                  unique=True))
        for c in lost:
            drops[data.draw(st.sampled_from(stages))].add(c)
    updates, weights = _inputs(ids, seed=n)
    plan = _plan(ids, drops, stages)
    got = agg.aggregate(updates, weights, _ctx(plan))
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert got.survivors == plain.survivors and got.total_weight == plain.total_weight
    assert got.stats["lost"] == []
    bound = got.stats["quantization_bound"] * got.total_weight  # on each coordinate of the sum
    assert np.abs(got.sum_vector - plain.sum_vector).max() < bound
    for record in got.stats["groups"]:  # what the server learned: each group's sum
        members = set(record["survivors"])
        want = PlainAggregator().aggregate(updates, weights, _ctx(restrict_plan(plan, members)))
        assert record["total_weight"] == want.total_weight
        err = np.abs(record["sum"] - want.sum_vector).max()
        assert err < record["quantization_bound"] * record["total_weight"]


def test_each_group_is_planned_for_its_own_size():
    agg = GroupedAggregator(min_group_size=12, expected_dropout=0.2)
    ids = range(1, 40)
    updates, weights = _inputs(ids)
    got = agg.aggregate(updates, weights, _ctx(_plan(ids, {}, agg.stages)))
    assert got.stats["group_sizes"] == [13, 13, 13]
    assert "each group's sum" in got.stats["revealed"]
    for record, members in zip(got.stats["groups"], agg.split(ids, 1), strict=True):
        want = SecAggAggregator(plus=True, expected_dropout=0.2).config(members, DIM + 1, 32)
        assert (record["threshold"], record["degree"]) == (want.threshold, want.degree)


def test_lightsecagg_groups():
    agg = GroupedAggregator(min_group_size=8, inner="lightsecagg", expected_dropout=0.3)
    ids = range(1, 18)
    group = agg.split(ids, 1)[1]
    plan = _plan(ids, {"masked_input": {group[0]}}, agg.stages)
    updates, weights = _inputs(ids)
    got = agg.aggregate(updates, weights, _ctx(plan))
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert got.survivors == plain.survivors and group[0] not in got.survivors
    assert np.abs(got.sum_vector - plain.sum_vector).max() < (
        got.stats["quantization_bound"] * got.total_weight)


# -- lost groups ----------------------------------------------------------------------------


def _lose_group(agg: GroupedAggregator, ids, which: int = 0):
    """A plan in which group ``which`` loses more than its budget at share_keys."""
    group = agg.split(ids, 1)[which]
    return group, _plan(ids, {"share_keys": set(group[: len(group) // 2 + 1])}, agg.stages)


def test_an_aborting_group_is_recorded_and_left_out_never_a_wrong_total(caplog):
    agg = GroupedAggregator(min_group_size=8, expected_dropout=0.2)
    ids = range(1, 25)
    lost, plan = _lose_group(agg, ids)
    updates, weights = _inputs(ids)
    got = agg.aggregate(updates, weights, _ctx(plan))
    assert [r["members"] for r in got.stats["lost"]] == [lost]
    assert got.stats["lost"][0]["stage"] == "share_keys"
    assert got.survivors.isdisjoint(lost) and len(got.stats["groups"]) == 2
    kept = set(ids) - set(lost)  # the total is exactly the other groups' survivors' sum
    want = PlainAggregator().aggregate(updates, weights, _ctx(restrict_plan(plan, kept)))
    assert got.survivors == want.survivors and got.total_weight == want.total_weight
    assert np.abs(got.sum_vector - want.sum_vector).max() < (
        got.stats["quantization_bound"] * got.total_weight)
    assert "1 of 3 groups aborted" in caplog.text


def test_on_abort_raise_and_every_group_lost_abort_the_round():
    ids = range(1, 25)
    updates, weights = _inputs(ids)
    strict = GroupedAggregator(min_group_size=8, expected_dropout=0.2, on_abort="raise")
    _, plan = _lose_group(strict, ids, which=2)
    with pytest.raises(AbortError, match="1 of 3 groups aborted .*on_abort='raise'") as info:
        strict.aggregate(updates, weights, _ctx(plan))
    assert info.value.stage == "share_keys" and info.value.stats["lost"][0]["index"] == 2
    agg = GroupedAggregator(min_group_size=8, expected_dropout=0.2)
    everyone = _plan(ids, {"share_keys": set(range(1, 19))}, agg.stages)
    with pytest.raises(AbortError, match="every group aborted"):
        agg.aggregate(updates, weights, _ctx(everyone))


# -- FedAvg through the seam ----------------------------------------------------------------


def test_fedavg_with_grouped_aggregator_equals_plain_within_the_bound():
    clients = make_shift_clients(30, DIM, seed=3)
    sim = Simulation(clients_per_round=24, dropout=0.1, seed=5)
    agg = GroupedAggregator(min_group_size=8, expected_dropout=0.3)
    runs = {name: run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator=a, clip=1.0, rounds=2, max_weight=50, simulation=sim))
        for name, a in (("plain", "plain"), ("grouped", agg))}
    plain, grouped = runs["plain"].history, runs["grouped"].history
    assert all(r.skipped is None and r.stats["lost"] == [] for r in grouped)
    assert [r.survivors for r in plain] == [r.survivors for r in grouped]
    assert len(grouped.records[0].stats["groups"]) == 3
    bound = sum(r.quantization_bound for r in grouped)
    diff = flatten(runs["plain"].parameters)[0] - flatten(runs["grouped"].parameters)[0]
    assert np.abs(diff).max() < bound < 1e-4
    first = run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator=agg, clip=1.0, rounds=1, max_weight=50, simulation=sim))
    rec = first.history.records[0]
    step = flatten(first.parameters)[0]
    assert np.abs(step - expected_step(clients, rec.survivors)).max() < rec.quantization_bound


# -- Ray ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_executor_two_workers_matches_in_process():
    pytest.importorskip("ray")
    ids = range(1, 31)
    updates, weights = _inputs(ids)
    with GroupedAggregator(min_group_size=10, executor="ray", workers=2) as agg:
        plan = _plan(ids, {"masked_input": {3, 17}}, agg.stages)
        got = agg.aggregate(updates, weights, _ctx(plan))
        assert got.stats["executor"] == "ray" and got.stats["workers"] == 2
        assert len({r["worker"] for r in got.stats["groups"]}) == 2  # two processes ran groups
    import ray

    assert not ray.is_initialized()  # the aggregator stopped the Ray it started
    plain = PlainAggregator().aggregate(updates, weights, _ctx(plan))
    assert got.survivors == plain.survivors and got.total_weight == plain.total_weight
    assert np.abs(got.sum_vector - plain.sum_vector).max() < (
        got.stats["quantization_bound"] * got.total_weight)


def test_group_corrupt_rate_is_the_hypergeometric_tail():
    from fl_integration.groups import group_corrupt_rate

    rate = group_corrupt_rate(0.05, 1_000_000, 10_000, 100, failure=1e-6)
    assert 0.05 < rate < 0.07  # about half the groups hold more than the cohort's 5%
    assert group_corrupt_rate(0.0, 100, 10, 10) == 0.0
    assert group_corrupt_rate(0.5, 10, 10, 1) == 0.5  # one group: the cohort itself
    stats = pytest.importorskip("scipy.stats")
    count = round(rate * 10_000)
    assert 100 * stats.hypergeom.sf(count, 1_000_000, 50_000, 10_000) <= 1e-6
    assert 100 * stats.hypergeom.sf(count - 1, 1_000_000, 50_000, 10_000) > 1e-6
