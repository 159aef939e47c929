"""Buffered asynchronous FL: every buffer is a real secure aggregation whose result equals plain
FedBuff's within the encoder's bound; stragglers are dropouts of their buffer; staleness is
weighted as stated and bounded; DP is accounted per buffer; the config refuses what it must."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fl_integration import DistributedDP, FedBuffConfig, SecAggAggregator, Simulation, run_fedbuff
from fl_integration.fedbuff import MIN_BUFFER_SIZE, BufferRecord
from fl_integration.fedbuff_latency import TrainingTime
from fl_integration.params import flatten
from fl_integration.privacy import PrivacyTracker
from fl_integration.quantization import WeightedEncoding
from secagg.errors import ConfigError

from .conftest import ShiftClient, initial, make_shift_clients

DIM = 6
MAX_WEIGHT = 50.0


def _config(**overrides) -> FedBuffConfig:
    options = dict(aggregator="plain", clip=1.0, buffer_size=4, spares=2, buffers=5,
                   max_weight=MAX_WEIGHT, simulation=Simulation(seed=3, deadline=1.0))
    options.update(overrides)
    return FedBuffConfig(**options)


def _exact(clients, records, config: FedBuffConfig) -> np.ndarray:
    """The model FedBuff should reach from zero with shift clients (updates do not depend on
    the model): each published buffer adds Σ w s(τ) u / Σ w over its survivors."""
    total = np.zeros(DIM)
    for r in records:
        if r.skipped:
            continue
        w = np.array([clients[c - 1].examples for c in r.survivors], dtype=np.float64)
        s = np.array([config.weight(r.staleness[c]) for c in r.survivors])
        u = np.stack([clients[c - 1].shift for c in r.survivors])
        total += config.server_lr * ((w * s)[:, None] * u).sum(axis=0) / w.sum()
    return total


def _encoder_bound(records, config: FedBuffConfig, clients) -> float:
    """Σ over buffers of the encoder's bound on the weighted mean: stochastic rounding moves
    each of n summands by less than one step, n·W/(scale·Σw) (see quantization.py)."""
    codec = WeightedEncoding.fit(dimension=DIM, bits=config.bits, clip=config.clip,
                                 max_summands=config.cohort_size, max_weight=MAX_WEIGHT)
    bound = 0.0
    for r in records:
        if not r.skipped:
            weight = sum(clients[c - 1].examples for c in r.survivors)
            bound += config.server_lr * codec.mean_bound(len(r.survivors), weight)
    return bound


def test_secure_fedbuff_equals_plain_fedbuff_within_the_encoder_bound():
    clients = make_shift_clients(20, DIM, seed=1)
    runs = {}
    for name in ("plain", "secagg+"):
        config = _config(aggregator=name, simulation=Simulation(seed=4, dropout=0.1, deadline=1.0))
        runs[name] = run_fedbuff(clients, initial(DIM), config)
    plain, secure = runs["plain"].history.records, runs["secagg+"].history.records
    assert len(secure) == 5 and not any(r.skipped for r in secure)
    assert [r.survivors for r in plain] == [r.survivors for r in secure]
    assert [r.staleness for r in plain] == [r.staleness for r in secure]
    assert all(r.stats["bits"] == 32 and r.cpu_seconds > 0 for r in secure)  # real rounds ran
    bound = _encoder_bound(secure, config, clients)
    assert bound == pytest.approx(sum(r.quantization_bound for r in secure))
    diff = flatten(runs["plain"].parameters)[0] - flatten(runs["secagg+"].parameters)[0]
    assert 0 < np.abs(diff).max() < bound < 1e-6
    exact = _exact(clients, plain, config)
    assert np.allclose(flatten(runs["plain"].parameters)[0], exact, atol=1e-12)


class _Timed(TrainingTime):
    """Training times chosen per client (the test's own heavy tail)."""

    def __init__(self, times: dict[int, float], default: float = 10.0) -> None:
        super().__init__()
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "default", default)

    def seconds(self, seed: int, client_id: int, job: int) -> float:
        return self.times.get(client_id, self.default + 0.01 * client_id)


def test_stragglers_are_dropouts_of_their_buffer_and_do_not_block_it():
    clients = make_shift_clients(6, DIM, seed=2)
    training = _Timed({1: 5000.0, 2: 4000.0})  # two devices far slower than the rest
    config = _config(aggregator="secagg+", buffer_size=4, spares=2, concurrency=6, buffers=1,
                     training=training)
    result = run_fedbuff(clients, initial(DIM), config)
    (record,) = result.history.records
    assert isinstance(record, BufferRecord) and record.skipped is None
    assert record.stragglers == (1, 2) and set(record.survivors) == {3, 4, 5, 6}
    assert record.time < 20.0  # closed at the 4th masked input, not after the slow devices
    assert record.stats["stages"]["masked_input"]["sent"] == 4
    assert record.stats["stages"]["share_keys"]["sent"] == 6  # the stragglers did the setup
    got = flatten(result.parameters)[0]
    assert np.abs(got - _exact(clients, [record], config)).max() < record.quantization_bound


def test_staleness_weights_known_answer():
    """Two cohorts download version 0 together; the second's inputs arrive after the first
    buffer is published, so τ = 1 and each update counts 1/√2: the model moves by v (1 + 1/√2)."""
    v = np.array([0.5, -0.25, 0.0, 0.125, 0.0, 1.0])
    clients = [ShiftClient(v.copy(), examples) for examples in (5, 7, 11, 13, 17, 19)]
    slow_second = Simulation(seed=0, latency=lambda key, c, s: 0.1 if key == 1 else 2.0)
    training = TrainingTime(median=10.0, speed_sigma=0.0, jitter_sigma=0.0)
    for staleness, factor in (("sqrt", 1 + 1 / math.sqrt(2)), ("constant", 2.0)):
        config = _config(buffer_size=3, spares=0, concurrency=6, buffers=2, training=training,
                         simulation=slow_second, staleness=staleness)
        result = run_fedbuff(clients, initial(DIM), config)
        first, second = result.history.records
        assert set(first.staleness.values()) == {0} and first.version == 1
        assert set(second.staleness.values()) == {1} and second.stale == 3
        assert second.base_version == 1 and second.version == 2
        assert np.allclose(flatten(result.parameters)[0], factor * v, atol=1e-12)


def test_a_buffer_never_mixes_models_beyond_max_staleness():
    clients = make_shift_clients(40, DIM, seed=3)
    config = _config(buffer_size=3, spares=2, concurrency=30, max_staleness=1, buffers=25,
                     simulation=Simulation(seed=5, deadline=1.0))
    records = run_fedbuff(clients, initial(DIM), config).history.records
    assert sum(len(r.discarded) for r in records) > 0  # the rule was exercised
    for r in records:
        assert set(r.versions) == set(r.survivors)
        assert all(r.base_version - v <= 1 for v in r.versions.values()), r
        assert all(0 <= t <= 1 for t in r.staleness.values())
        assert not set(r.discarded) & set(r.survivors)


@pytest.mark.parametrize("overrides, message", [
    (dict(buffer_size=MIN_BUFFER_SIZE - 1), f"buffer_size must be an int >= {MIN_BUFFER_SIZE}"),
    (dict(buffer_size=4.0), "buffer_size must be an int >= 3"),
    (dict(spares=-1), "spares must be an int >= 0"),
    (dict(max_staleness=-2), "max_staleness must be an int >= 0"),
    (dict(buffers=True), "buffers must be an int >= 0"),
    (dict(concurrency=5), "concurrency must be an int >= 6"),
    (dict(staleness="linear"), "staleness must be one of 'sqrt', 'constant'"),
    (dict(staleness=lambda tau: 1.0 + tau), "staleness(τ) must be in (0, 1]"),
    (dict(staleness=42), "staleness must be a name or a function"),
    (dict(time_limit=0.0), "time_limit must be None or a positive finite number"),
    (dict(buffer_deadline=math.inf), "buffer_deadline must be None or a positive finite"),
    (dict(training=3.0), "training must be a TrainingTime"),
    (dict(aggregator="rot13"), "aggregator must be one of"),
    (dict(clip=None), "clip is required"),
    (dict(bits=4), "bits must be an int in [8, 64]"),
    (dict(aggregator=SecAggAggregator(expected_dropout=0.1)),
     "spares must be at most the aggregator's dropout budget"),
])
def test_config_validation_names_the_parameter_and_range(overrides, message):
    with pytest.raises(ConfigError) as exc:
        _config(**overrides)
    assert message in str(exc.value)


def test_a_buffer_below_the_minimum_is_refused():
    for k in range(MIN_BUFFER_SIZE):
        with pytest.raises(ConfigError, match="learn another's update"):
            _config(buffer_size=k)
    assert _config(buffer_size=MIN_BUFFER_SIZE).cohort_size == MIN_BUFFER_SIZE + 2


def test_the_cohort_must_fit_the_federation():
    with pytest.raises(ConfigError, match="must be at most the 5 clients"):
        run_fedbuff(make_shift_clients(5, DIM), initial(DIM), _config())


def test_distributed_dp_is_accounted_per_buffer():
    clients = make_shift_clients(20, DIM, seed=6)
    dp = DistributedDP(noise_multiplier=1.0, l2_clip=1.0)
    config = _config(aggregator="secagg+", dp=dp, clip=None, buffers=3)
    records = run_fedbuff(clients, initial(DIM), config).history.records
    assert not any(r.skipped for r in records)
    # the same ledger by hand: one event per buffer, from the codec the buffer's size plans
    probe = config.make_aggregator().config(records[0].sampled, 1, 32)  # type: ignore[attr-defined]
    codec = dp.codec(dimension=DIM, n_clients=config.cohort_size,
                     n_min=probe.min_honest_inputs, colluders=probe.max_corrupt)
    tracker = PrivacyTracker(dp)
    for record in records:
        expected = tracker.record(codec.plan.event(), honest_shares=codec.plan.n_min,
                                  colluders=probe.max_corrupt)
        assert record.epsilon == pytest.approx(expected)
        assert record.honest_shares == codec.plan.n_min
    assert records[0].epsilon < records[1].epsilon < records[2].epsilon


def test_a_lightsecagg_secured_buffer_works():
    clients = make_shift_clients(20, DIM, seed=7)
    config = _config(aggregator="lightsecagg", buffers=3,
                     simulation=Simulation(seed=8, dropout=0.1, deadline=1.0))
    result = run_fedbuff(clients, initial(DIM), config)
    records = result.history.records
    assert len(records) == 3 and not any(r.skipped for r in records)
    assert all("privacy_threshold" in r.stats for r in records)  # LightSecAgg's own stats
    bound = sum(r.quantization_bound for r in records)
    got = flatten(result.parameters)[0]
    assert np.abs(got - _exact(clients, records, config)).max() < bound < 1e-4


def test_the_buffer_deadline_closes_with_what_arrived_but_never_below_the_minimum():
    clients = make_shift_clients(6, DIM, seed=9)
    fast3 = _Timed({1: 900.0, 2: 900.0, 3: 900.0})  # three of the six never finish in time
    config = _config(buffer_size=4, spares=2, concurrency=6, buffers=1, training=fast3,
                     buffer_deadline=20.0)
    (record,) = run_fedbuff(clients, initial(DIM), config).history.records
    assert record.skipped is None and set(record.survivors) == {4, 5, 6}
    assert record.stragglers == (1, 2, 3) and 20.0 < record.time < 30.0
    fast2 = _Timed({1: 900.0, 2: 900.0, 3: 900.0, 4: 900.0})
    (record,) = run_fedbuff(clients, initial(DIM), _config(
        buffer_size=4, spares=2, concurrency=6, buffers=1, training=fast2,
        buffer_deadline=20.0)).history.records
    assert record.survivors == () and "2 update(s) arrived" in record.skipped
