"""FedAvg over the plain aggregator: the exact weighted step, skipped rounds, client eval."""

from __future__ import annotations

import numpy as np
import pytest

from fl_integration import FedAvgConfig, Simulation, flatten, run_fedavg

from .conftest import ShiftClient, expected_step, initial, make_shift_clients


def test_plain_round_is_the_weighted_mean_of_survivors():
    clients = make_shift_clients(12, 9, seed=3)
    sim = Simulation(clients_per_round=8, dropout=0.3, seed=5)
    res = run_fedavg(clients, initial(9), FedAvgConfig(aggregator="plain", rounds=1, simulation=sim))
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
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator="plain", rounds=2, simulation=sim),
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
    res = run_fedavg(clients, initial(6), FedAvgConfig(aggregator=aggregator, rounds=2,
                                                      simulation=sim))
    others = (1, 2, 4, 5, 6)
    for rec in res.history:
        assert rec.skipped is None and rec.survivors == others
    got, _ = flatten(res.parameters)
    atol = 1e-12 if aggregator == "plain" else 1e-6
    np.testing.assert_allclose(got, 2 * expected_step(clients, others), rtol=0, atol=atol)
