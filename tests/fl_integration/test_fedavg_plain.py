"""FedAvg over the plain aggregator: the exact weighted step, skipped rounds, client eval."""

from __future__ import annotations

import numpy as np

from fl_integration import FedAvgConfig, Simulation, flatten, run_fedavg

from .conftest import expected_step, initial, make_shift_clients


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
