"""The ε the FL layer reports: against the server (no subsampling amplification), for the
replace-one relation, counting only the honest noise shares, with that assumption recorded; each
checked against Google's dp-accounting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from dp.accounting import PrivacyLedger
from fl_integration import DistributedDP, FedAvgConfig, LocalDP, Simulation, run_fedavg
from fl_integration.aggregators import AggregateResult
from fl_integration.simulation import STAGES

from .conftest import initial, make_shift_clients

DIM = 7
DELTA = 1e-5


def _dpa_rdp_epsilon(noise_multiplier: float, steps: int) -> float:
    """dp-accounting's RDP ε of ``steps`` Gaussians with neighbouring means ``noise_multiplier``
    sigmas apart (sigma over the replace-one sensitivity)."""
    import dp_accounting as dpa

    acc = dpa.rdp.RdpAccountant()
    acc.compose(dpa.GaussianDpEvent(noise_multiplier), steps)
    return float(acc.get_epsilon(DELTA))


@dataclass
class _StatedShares:
    """A stand-in secure aggregator that asks the codec factory for ``honest`` noise shares (its
    survivors minus its colluders) and sums the encoded vectors mod 2^b, as secure aggregation
    would reveal them."""

    honest: int
    colluders: int | None = None
    name: str = "stated-shares"
    stages: tuple[str, ...] = STAGES

    def aggregate(self, updates, weights, ctx):
        ids = sorted(ctx.plan.input_survivors() & updates.keys())
        n = len(ctx.plan.sampled)
        codec = (ctx.make_codec(n, self.honest) if self.colluders is None
                 else ctx.make_codec(n, self.honest, colluders=self.colluders))
        self.codec = codec
        total = sum(codec.encode(updates[c], weights[c], ctx.rng).astype(object) for c in ids)
        summed = np.array([int(v) & ((1 << codec.bits) - 1) for v in total], dtype=np.uint64)
        vec, weight = codec.decode(summed, len(ids))
        return AggregateResult(vec, weight, frozenset(ids), {})


def test_review_collusion_scenario_through_the_fl_layer():
    """Review finding 11: n = 10 sampled, 7 survivors, 6 of them colluding with the server, so one
    honest share; z = 4, 20 rounds. The codec is calibrated for that one share, the reported ε is
    dp-accounting's for the one share's noise over the doubled norm bound (12.45, where the old
    code reported 5.44 for seven shares), and the assumption is recorded beside it."""
    clients = make_shift_clients(10, DIM, seed=21)
    agg = _StatedShares(honest=7 - 6, colluders=6)
    config = FedAvgConfig(aggregator=agg, dp=DistributedDP(noise_multiplier=4.0), rounds=20,
                          simulation=Simulation(clients_per_round=10, seed=5))
    last = run_fedavg(clients, initial(DIM), config).history.records[-1]
    plan = agg.codec.plan
    assert plan.n_min == 1 and (last.honest_shares, last.colluders) == (1, 6)
    expected = _dpa_rdp_epsilon(plan.client_sigma / (2 * plan.l2_bound), 20)
    assert last.epsilon == pytest.approx(expected, rel=1e-6)
    assert last.epsilon == pytest.approx(12.45, abs=0.02) and last.delta == DELTA
    assert "1 honest noise shares, 6 colluding" in last.line()


def test_factory_keeps_its_positional_signature():
    clients = make_shift_clients(6, DIM, seed=22)
    agg = _StatedShares(honest=2)
    config = FedAvgConfig(aggregator=agg, dp=DistributedDP(noise_multiplier=2.0), rounds=2,
                          simulation=Simulation(clients_per_round=6, seed=6))
    history = run_fedavg(clients, initial(DIM), config).history
    assert [(r.honest_shares, r.colluders) for r in history] == [(2, None), (2, None)]
    assert history.as_dicts()[-1]["honest_shares"] == 2
    assert agg.codec.plan.n_min == 2


@pytest.mark.parametrize("mechanism", ["gaussian", "skellam"])
def test_reported_epsilon_has_no_subsampling_amplification(mechanism):
    """4 of 12 clients per round: the old layer claimed amplification at q = 1/3 although the
    server picks and sees the sample. Now ε composes the unsampled events of the rounds."""
    clients = make_shift_clients(12, DIM, seed=23)
    dp_config = DistributedDP(noise_multiplier=3.0, mechanism=mechanism)
    sim = Simulation(clients_per_round=4, seed=7)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="plain", dp=dp_config,
                                                         rounds=3, simulation=sim))
    ledger = PrivacyLedger()
    for rec in res.history:
        assert rec.skipped is None and rec.honest_shares is not None
        plan = dp_config.codec(dimension=DIM, n_clients=len(rec.sampled),
                               n_min=rec.honest_shares).plan
        ledger.record(plan.event())
        assert rec.epsilon == pytest.approx(ledger.epsilon(DELTA), rel=1e-9)
    honest_sigma = (plan.n_min * plan.client_variance) ** 0.5
    gauss = _dpa_rdp_epsilon(honest_sigma / (2 * plan.l2_bound), 3)
    assert gauss * (1 - 1e-9) <= res.history.records[-1].epsilon <= gauss * (1 + 1e-4)


@pytest.mark.parametrize("per_round", [3, 8])
def test_local_dp_epsilon_is_dp_accountings_and_ignores_sampling(per_round):
    clients = make_shift_clients(8, DIM, seed=24)
    config = LocalDP(epsilon=4.0, delta=DELTA, l2_clip=0.5)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator="plain", dp=config, rounds=4, simulation=Simulation(clients_per_round=per_round)))
    eps = [r.epsilon for r in res.history]
    expected = [_dpa_rdp_epsilon(config.sigma / (2 * config.l2_clip), t) for t in (1, 2, 3, 4)]
    assert eps == pytest.approx(expected, rel=1e-9)
    assert all(r.honest_shares is None and r.delta == DELTA for r in res.history)
