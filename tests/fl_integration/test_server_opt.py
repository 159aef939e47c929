"""Server optimizers (Reddi et al. 2021): known-answer steps from the paper's update rules, one
state per run, validation, and the secure run's model equal to the plain one's within the bound
the encoder implies (pushed through the optimizer's step)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fl_integration import (
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgConfig,
    FedAvgM,
    FedYogi,
    Simulation,
    flatten,
    run_fedavg,
)
from secagg.errors import ConfigError

from .conftest import expected_step, initial, make_shift_clients

DIM = 7


def _steps(optimizer, deltas, x0=0.0):
    state, x = optimizer.start(), np.array([x0])
    for d in deltas:
        x = state.step(x, np.array([d], dtype=np.float64))
    return float(x[0])


# --- known answers, by hand from the update rules -------------------------------------------

def test_fedavg_is_x_plus_lr_delta():
    assert _steps(FedAvg(lr=0.5), [2.0, -1.0], x0=1.0) == 1.0 + 0.5 * 2.0 - 0.5 * 1.0


def test_fedavgm_accumulates_momentum():
    # m1 = 1, x1 = 0.5·1; m2 = 0.9·1 + 1 = 1.9, x2 = 0.5 + 0.5·1.9 = 1.45
    assert _steps(FedAvgM(lr=0.5, momentum=0.9), [1.0, 1.0]) == pytest.approx(1.45, abs=1e-15)


def test_fedadam_two_steps():
    # m0 = 0, v0 = τ² = 1. Δ=7: m1 = 0.5·7 = 3.5, v1 = 0.5·1 + 0.5·49 = 25, x1 = 0.6·3.5/(5+1) = 0.35
    opt = FedAdam(lr=0.6, beta1=0.5, beta2=0.5, tau=1.0)
    assert _steps(opt, [7.0]) == pytest.approx(0.35, abs=1e-15)
    # Δ=5: m2 = 1.75 + 2.5 = 4.25, v2 = 12.5 + 12.5 = 25, x2 = 0.35 + 0.6·4.25/6 = 0.775
    assert _steps(opt, [7.0, 5.0]) == pytest.approx(0.775, abs=1e-15)


def test_fedyogi_two_steps_both_signs():
    # v0 = 1. Δ=4: Δ² > v, v1 = 1 + 0.5·16 = 9, m1 = 2, x1 = 2/(3+1) = 0.5
    opt = FedYogi(lr=1.0, beta1=0.5, beta2=0.5, tau=1.0)
    assert _steps(opt, [4.0]) == pytest.approx(0.5, abs=1e-15)
    # Δ=1: Δ² < v, v2 = 9 - 0.5·1 = 8.5, m2 = 1.5, x2 = 0.5 + 1.5/(√8.5 + 1)
    assert _steps(opt, [4.0, 1.0]) == pytest.approx(0.5 + 1.5 / (math.sqrt(8.5) + 1), abs=1e-15)
    # Adam on the same: v1 = 0.5 + 8 = 8.5, v2 = 4.25 + 0.5 = 4.75 (Yogi's v shrinks less)
    adam = FedAdam(lr=1.0, beta1=0.5, beta2=0.5, tau=1.0)
    want = 2 / (math.sqrt(8.5) + 1) + 1.5 / (math.sqrt(4.75) + 1)
    assert _steps(adam, [4.0, 1.0]) == pytest.approx(want, abs=1e-15)


def test_fedadagrad_two_steps():
    # β1 = 0 by default. v0 = 9. Δ=4: v1 = 25, x1 = 4/(5+3) = 0.5; Δ=12: v2 = 169, x2 += 12/16
    opt = FedAdagrad(lr=1.0, tau=3.0)
    assert opt.beta1 == 0.0
    assert _steps(opt, [4.0, 12.0]) == pytest.approx(0.5 + 0.75, abs=1e-15)


def test_state_is_per_run_not_in_the_config():
    opt = FedAdam(lr=0.1)
    a, b = opt.start(), opt.start()
    x = np.zeros(3)
    first = a.step(x, np.ones(3))
    a.step(first, np.ones(3))
    np.testing.assert_array_equal(b.step(x, np.ones(3)), first)  # b did not see a's steps
    assert hash(opt) == hash(FedAdam(lr=0.1))  # frozen value object


def test_a_config_gives_the_same_run_twice():
    clients = make_shift_clients(6, DIM, seed=1)
    config = FedAvgConfig(aggregator="plain", clip=1.0, rounds=3, server_optimizer=FedYogi(),
                          simulation=Simulation(clients_per_round=4, seed=2))
    a, b = (flatten(run_fedavg(clients, initial(DIM), config).parameters)[0] for _ in range(2))
    np.testing.assert_array_equal(a, b)


def test_none_is_fedavg_with_server_lr():
    clients = make_shift_clients(6, DIM, seed=3)
    sim = Simulation(clients_per_round=6)
    legacy = run_fedavg(clients, initial(DIM), FedAvgConfig(aggregator="plain", clip=1.0,
                                                            rounds=2, server_lr=0.5,
                                                            simulation=sim))
    explicit = run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator="plain", clip=1.0, rounds=2, server_optimizer=FedAvg(lr=0.5), simulation=sim))
    np.testing.assert_allclose(flatten(legacy.parameters)[0], flatten(explicit.parameters)[0],
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(flatten(legacy.parameters)[0],
                               2 * 0.5 * expected_step(clients, range(1, 7)), rtol=0, atol=1e-12)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "name"), [
    (lambda: FedAvg(lr=0.0), "FedAvg.lr"),
    (lambda: FedAvgM(lr=-1.0), "FedAvgM.lr"),
    (lambda: FedAvgM(momentum=1.0), "FedAvgM.momentum"),
    (lambda: FedAdam(beta1=-0.1), "FedAdam.beta1"),
    (lambda: FedAdam(beta2=1.0), "FedAdam.beta2"),
    (lambda: FedYogi(tau=0.0), "FedYogi.tau"),
    (lambda: FedAdagrad(lr=math.inf), "FedAdagrad.lr"),
    (lambda: FedAdagrad(tau=True), "FedAdagrad.tau"),
])
def test_bad_optimizer_settings_name_the_parameter_and_range(make, name):
    with pytest.raises(ConfigError, match=rf"{name} must be a finite number in [\[(]"):
        make()


def test_fedavg_config_refuses_two_step_rules_and_non_optimizers():
    with pytest.raises(ConfigError, match="server_lr must be left at 1.0"):
        FedAvgConfig(clip=1.0, server_lr=0.5, server_optimizer=FedAdam())
    with pytest.raises(ConfigError, match="server_optimizer must be"):
        FedAvgConfig(clip=1.0, server_optimizer="adam")  # type: ignore[arg-type]
    FedAvgConfig(clip=1.0, server_optimizer=FedAdam())  # server_lr left at its default: fine


# --- secure run = plain run, within the encoder's bound ----------------------------------------

def _pair(optimizer, rounds: int, seed: int = 4):
    clients = make_shift_clients(10, DIM, seed=seed)
    sim = Simulation(clients_per_round=8, seed=seed)
    runs = {name: run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator=name, clip=1.0, rounds=rounds, max_weight=50, server_optimizer=optimizer,
        simulation=sim)) for name in ("plain", "secagg+")}
    plain, secure = runs["plain"], runs["secagg+"]
    assert [r.survivors for r in plain.history] == [r.survivors for r in secure.history]
    assert all(r.skipped is None for r in secure.history)
    diff = np.abs(flatten(plain.parameters)[0] - flatten(secure.parameters)[0])
    return clients, plain, secure, diff


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fedavgm_secure_equals_plain_within_the_propagated_bound(momentum):
    """Linear in the means: an error e_s in round s's mean moves x_R by lr·e_s·Σ_{t=s..R} β^(t-s)."""
    lr, rounds = 0.7, 3
    _, _, secure, diff = _pair(FedAvgM(lr=lr, momentum=momentum), rounds)
    qb = [r.quantization_bound for r in secure.history]
    bound = lr * sum(q * sum(momentum ** (t - s) for t in range(s, rounds))
                     for s, q in enumerate(qb))
    assert 0 < diff.max() < bound


@pytest.mark.parametrize("optimizer", [FedAdam(lr=0.05), FedYogi(lr=0.05), FedAdagrad(lr=0.05)],
                         ids=["adam", "yogi", "adagrad"])
def test_adaptive_secure_equals_plain_within_the_propagated_bound(optimizer):
    """One round from fresh state: per coordinate the step is monotone in Δ (for Yogi, on each
    side of |Δ| = τ), so a mean within ±qb of the exact one moves x by at most the step's change
    over [Δ - qb, Δ + qb]."""
    clients, plain, secure, diff = _pair(optimizer, rounds=1)
    qb = secure.history.records[0].quantization_bound
    delta = expected_step(clients, plain.history.records[0].survivors)
    np.testing.assert_allclose(flatten(plain.parameters)[0],
                               optimizer.start().step(np.zeros(DIM), delta), rtol=0, atol=1e-15)
    assert np.all(np.abs(np.abs(delta) - optimizer.tau) > qb)  # no interval straddles |Δ| = τ
    x0 = np.zeros(DIM)
    at = optimizer.start().step(x0, delta)
    bound = np.maximum(np.abs(optimizer.start().step(x0, delta + qb) - at),
                       np.abs(optimizer.start().step(x0, delta - qb) - at))
    assert np.all(diff <= bound * (1 + 1e-9) + 1e-15)
    assert 0 < diff.max()


def test_optimizer_never_runs_on_a_skipped_round():
    clients = make_shift_clients(4, DIM)
    sim = Simulation(clients_per_round=4, deadline=0.1, latency=lambda r, c, s: 1.0)
    res = run_fedavg(clients, initial(DIM), FedAvgConfig(
        aggregator="plain", clip=1.0, rounds=2, server_optimizer=FedAvgM(), simulation=sim))
    assert all(r.skipped for r in res.history)
    np.testing.assert_array_equal(flatten(res.parameters)[0], np.zeros(DIM))
