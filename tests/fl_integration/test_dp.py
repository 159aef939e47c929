"""DP through the FL layer: noise where the config says, ε reported per round."""

from __future__ import annotations

import numpy as np
import pytest

from fl_integration import DistributedDP, FedAvgConfig, LocalDP, Simulation, flatten, run_fedavg

from .conftest import initial, make_shift_clients

DIM = 7


def _mean_shift(clients, survivors):
    return np.mean([clients[c - 1].shift for c in survivors], axis=0)


@pytest.mark.parametrize("aggregator", ["plain", "secagg+"])
def test_distributed_dp_step_is_the_unweighted_mean_plus_small_noise(aggregator):
    clients = make_shift_clients(12, DIM, seed=11)  # L2 norms < 1: the DP clip does not bite
    dp_config = DistributedDP(noise_multiplier=0.1, l2_clip=1.0)
    sim = Simulation(clients_per_round=10, dropout=0.1, seed=3)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator=aggregator, dp=dp_config,
                                                         rounds=1, simulation=sim))
    rec = res.history.records[0]
    assert rec.skipped is None and rec.epsilon is not None and rec.epsilon > 0
    got = flatten(res.parameters)[0]
    # the h honest shares carry std 0.1 together, so each share 0.1 / sqrt(h); over s survivors
    # the mean's noise has std 0.1 / sqrt(s h), plus rounding (the quantization bound)
    s, h = len(rec.survivors), rec.honest_shares
    assert h is not None and 1 <= h <= s
    tol = 6 * 0.1 / np.sqrt(s * h) + rec.quantization_bound
    assert np.abs(got - _mean_shift(clients, rec.survivors)).max() < tol
    assert not np.allclose(got, _mean_shift(clients, rec.survivors), atol=1e-6)  # noise is there


def test_local_dp_noises_every_update_and_epsilon_grows():
    clients = make_shift_clients(8, DIM, seed=12)
    sim = Simulation(clients_per_round=6, seed=1)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="secagg", dp=LocalDP(epsilon=4.0),
                                                         rounds=3, simulation=sim))
    eps = [r.epsilon for r in res.history]
    assert all(e is not None for e in eps) and eps[0] > 0 and eps[0] < eps[1] < eps[2]
    assert all(r.skipped is None for r in res.history)
    got = flatten(res.parameters)[0]
    assert np.isfinite(got).all() and np.abs(got).max() > 0


def test_aborted_round_spends_no_distributed_budget():
    clients = make_shift_clients(6, DIM, seed=13)
    sim = Simulation(clients_per_round=6, deadline=1.0,
                     latency=lambda r, c, s: 5.0 if (r == 2 and c <= 3 and s == "masked_input") else 0.1)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="secagg", dp=DistributedDP(),
                                                         rounds=2, simulation=sim))
    first, second = res.history.records
    assert first.skipped is None and second.skipped is not None
    assert second.epsilon == first.epsilon > 0


def test_bad_dp_settings_are_refused():
    with pytest.raises(ValueError, match="epsilon"):
        LocalDP(epsilon=0)
    with pytest.raises(ValueError, match="mechanism"):
        DistributedDP(mechanism="laplace")
    with pytest.raises(ValueError, match="dp must be"):
        FedAvgConfig(dp="local")
