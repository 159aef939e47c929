"""FedAvg over the plain aggregator: the exact weighted step, skipped rounds, client eval."""

from __future__ import annotations

import numpy as np
import pytest

from fl_integration import DistributedDP, FedAvgConfig, Simulation, flatten, run_fedavg

from .conftest import ShiftClient, expected_step, initial, make_shift_clients


def test_plain_round_is_the_weighted_mean_of_survivors():
    clients = make_shift_clients(12, 9, seed=3)
    sim = Simulation(clients_per_round=8, dropout=0.3, seed=5)
    res = run_fedavg(clients, initial(9), FedAvgConfig(aggregator="plain", clip=1.0, rounds=1, simulation=sim))
    rec = res.history.records[0]
    assert len(rec.sampled) == 8 and 0 < len(rec.survivors) <= 8
    got, _ = flatten(res.parameters)
    np.testing.assert_allclose(got, expected_step(clients, rec.survivors), rtol=0, atol=1e-12)
    assert rec.accuracy == 0.5  # federated evaluation fallback (no evaluate_fn)


def test_clip_applies_to_every_update():
    clients = make_shift_clients(4, 6, scale=5.0)
    sim = Simulation(clients_per_round=4)
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator="plain", rounds=1, clip=0.5,
                                                      simulation=sim))
    got, _ = flatten(res.parameters)
    assert np.abs(got).max() <= 0.5 + 1e-12


def test_round_with_no_survivor_is_skipped_and_model_unchanged():
    clients = make_shift_clients(4, 6)
    sim = Simulation(clients_per_round=4, deadline=0.1, latency=lambda r, c, s: 1.0)
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator="plain", clip=1.0, rounds=2, simulation=sim),
                     evaluate_fn=lambda p: (0.0, {"accuracy": 0.25}))
    assert [r.skipped is not None for r in res.history] == [True, True]
    assert "masked_input" in res.history.records[0].skipped
    np.testing.assert_array_equal(flatten(res.parameters)[0], np.zeros(6))
    assert res.history.final_accuracy == 0.25


BAD_UPDATES = {"inf": (np.inf, 20), "nan": (np.nan, 20), "complex": (1j, 20),
               "nan-count": (0.0, float("nan")), "inf-count": (0.0, float("inf"))}


@pytest.mark.parametrize("aggregator", ["plain", "secagg"])
@pytest.mark.parametrize("kind", list(BAD_UPDATES))
def test_a_non_finite_or_complex_client_is_that_rounds_dropout(kind, aggregator):
    """Client 3 returns inf, NaN or complex values, or a count that is no number: refused on
    its side (clipping used to turn inf into the bound), it drops out of the round, and the
    others' weighted mean is the step; the run goes on."""
    clients = make_shift_clients(6, 6, seed=4)
    bad, count = BAD_UPDATES[kind]
    shift = clients[2].shift.astype(complex if kind == "complex" else float)
    shift[1] += bad
    clients[2] = ShiftClient(shift, count)  # type: ignore[arg-type]
    sim = Simulation(clients_per_round=6)
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator=aggregator, clip=1.0, rounds=2,
                                                      simulation=sim))
    others = (1, 2, 4, 5, 6)
    for rec in res.history:
        assert rec.skipped is None and rec.survivors == others
    got, _ = flatten(res.parameters)
    atol = 1e-12 if aggregator == "plain" else 1e-6
    np.testing.assert_allclose(got, 2 * expected_step(clients, others), rtol=0, atol=atol)


def _clip_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "fl_integration.fedavg" and "the clip changed" in r.getMessage()]


@pytest.mark.parametrize("aggregator", ["plain", "secagg"])
def test_clipping_is_recorded_per_round_and_warned_once_per_round(aggregator, caplog):
    """Two of six clients move the model by 100 with clip 1: each round records that a third of
    the updates were clipped, logs one warning (not one per client) and shows it in its line."""
    clients = make_shift_clients(6, 6, seed=7)
    for i in (1, 4):
        clients[i] = ShiftClient(np.full(6, 100.0), clients[i].examples)
    sim = Simulation(clients_per_round=6)
    caplog.set_level("WARNING", logger="fl_integration.fedavg")
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator=aggregator, clip=1.0, rounds=2,
                                                      max_weight=50, simulation=sim))
    assert [r.clipped_fraction for r in res.history] == [2 / 6, 2 / 6]
    warned = _clip_warnings(caplog)
    assert len(warned) == 2 and all("2 of 6 client updates" in w for w in warned)
    assert "±1, FedAvgConfig.clip" in warned[0]
    assert "clipped  33%" in res.history.records[0].line()
    assert res.history.as_dicts()[0]["clipped_fraction"] == 2 / 6


def test_no_clipping_is_recorded_as_zero_and_not_warned(caplog):
    clients = make_shift_clients(5, 6, seed=8)  # shifts within 0.3 of zero: clip 1 never bites
    caplog.set_level("WARNING", logger="fl_integration.fedavg")
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator="plain", clip=1.0, rounds=1,
                                                      simulation=Simulation(clients_per_round=5)))
    assert res.history.records[0].clipped_fraction == 0.0
    assert _clip_warnings(caplog) == []


def test_clipping_under_dp_counts_the_l2_clip_of_the_dp_config(caplog):
    clients = make_shift_clients(4, 6, seed=9)
    clients[0] = ShiftClient(np.full(6, 3.0), clients[0].examples)  # L2 norm 7.3 > l2_clip 1
    caplog.set_level("WARNING", logger="fl_integration.fedavg")
    res = run_fedavg(clients, initial(6), FedAvgConfig(
        aggregator="plain", dp=DistributedDP(noise_multiplier=1.0), rounds=1,
        simulation=Simulation(clients_per_round=4)))
    assert res.history.records[0].clipped_fraction == 1 / 4
    assert "L2 norm above 1, DistributedDP.l2_clip" in _clip_warnings(caplog)[0]
