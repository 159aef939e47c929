"""The Paillier backend through the FL layer, with a small test-only key (insecure on purpose)."""

from __future__ import annotations

import numpy as np

from fl_integration import FedAvgConfig, Simulation, flatten, run_fedavg
from fl_integration.paillier import PaillierAggregator

from .conftest import expected_step, initial, make_shift_clients

DIM = 7


def test_paillier_round_equals_plain_step_within_bound():
    clients = make_shift_clients(10, DIM, seed=8)
    agg = PaillierAggregator(key_bits=512, allow_insecure_key_size=True)
    sim = Simulation(clients_per_round=8, dropout=0.25, seed=4)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator=agg, clip=1.0, rounds=2, max_weight=50,
                                                         simulation=sim))
    plain = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="plain", clip=1.0, rounds=2,
                                                           max_weight=50, simulation=sim))
    assert [r.survivors for r in res.history] == [r.survivors for r in plain.history]
    assert all(r.skipped is None and r.bytes_up > 0 for r in res.history)
    first = res.history.records[0]
    assert len(first.survivors) < 8  # the dropouts really happened
    bound = sum(r.quantization_bound for r in res.history)
    diff = flatten(res.parameters)[0] - flatten(plain.parameters)[0]
    assert np.abs(diff).max() < bound < 1e-5
    one = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator=agg, clip=1.0, rounds=1, max_weight=50,
                                                         simulation=sim))
    got = flatten(one.parameters)[0]
    want = expected_step(clients, one.history.records[0].survivors)
    assert np.abs(got - want).max() < one.history.records[0].quantization_bound
