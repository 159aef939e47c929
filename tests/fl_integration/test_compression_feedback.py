"""Error feedback: the residual is carried from round to round, stays bounded, and what a client
sent over the rounds plus its last residual is exactly what it asked for (when no bound cut in)."""

from __future__ import annotations

import numpy as np
import pytest

from fl_integration import DistributedDP, FedAvgConfig, Simulation
from fl_integration.aggregators import make_aggregator
from fl_integration.compression import ErrorFeedback, SignVote, Subsample, for_round, round_seed
from fl_integration.fedavg import _Run
from fl_integration.params import flatten

from .conftest import initial, make_shift_clients

DIM, CLIP = 30, 0.5


def _sent(round_, v):
    """What the client's message stands for, in update units (the deterministic part)."""
    transform = round_.transform
    return transform.sent(round_.method.compact_sent(transform.forward(v), round_.clip))


@pytest.mark.parametrize("method", [SignVote(step=CLIP), SignVote(step=0.8)])
def test_sign_votes_with_a_step_at_least_the_clip_conserve_the_updates(method):
    """step >= clip and every coordinate voting: |residual| <= step by induction, the clip on
    the residual never acts, and Σ sent + residual = Σ updates exactly."""
    draws = np.random.default_rng(1)
    residual, asked, sent = np.zeros(DIM), np.zeros(DIM), np.zeros(DIM)
    for _ in range(60):
        update = draws.uniform(-CLIP, CLIP, DIM)
        round_ = for_round(method, seed=round_seed(), dimension=DIM, clip=CLIP)
        v = update + residual
        new = round_.residual(v)
        assert np.array_equal(new, v - _sent(round_, v))  # nothing clipped away
        assert np.abs(new).max() <= method.step
        residual, asked, sent = new, asked + update, sent + _sent(round_, v)
    np.testing.assert_allclose(sent + residual, asked, atol=1e-9)


@pytest.mark.parametrize("method", [SignVote(step=0.05, fraction=0.3),
                                    Subsample(fraction=0.2, error_feedback=True)])
def test_the_residual_stays_within_its_bound_whatever_the_updates(method):
    draws = np.random.default_rng(2)
    residual = np.zeros(DIM)
    bound = method.residual_bound(CLIP)
    for _ in range(100):
        update = np.full(DIM, CLIP) * draws.choice([1.0, 0.9])  # always the same sign: the worst
        round_ = for_round(method, seed=round_seed(), dimension=DIM, clip=CLIP)
        residual = round_.residual(update + residual)
        assert np.abs(residual).max() <= bound


def test_subsample_feedback_delivers_every_coordinate_eventually():
    """Small updates (no clip acts): the unsent coordinates wait on the client and go out
    when the round's sample picks them; sent + residual = asked throughout."""
    method = Subsample(fraction=0.25, error_feedback=True)
    draws = np.random.default_rng(3)
    residual, asked, sent = np.zeros(DIM), np.zeros(DIM), np.zeros(DIM)
    for _ in range(40):
        update = draws.uniform(-0.01, 0.01, DIM)
        round_ = for_round(method, seed=round_seed(), dimension=DIM, clip=CLIP)
        v = update + residual
        residual, asked, sent = round_.residual(v), asked + update, sent + _sent(round_, v)
        np.testing.assert_allclose(sent + residual, asked, atol=1e-12)
    assert np.abs(residual).max() < 0.1  # far below what 40 rounds asked for in total


def test_under_distributed_dp_the_residual_is_bounded_in_l2():
    dp = DistributedDP(noise_multiplier=1.0, l2_clip=1.0)
    round_ = for_round(Subsample(fraction=0.5, error_feedback=True), seed=round_seed(),
                       dimension=DIM, clip=1.0, dp=dp)
    residual = round_.residual(np.full(DIM, 3.0))
    assert np.linalg.norm(residual) <= 1.0 + 1e-12


def test_residuals_are_committed_only_for_clients_whose_input_counted():
    feedback = ErrorFeedback()
    feedback.hold(1, np.ones(3))
    feedback.hold(2, np.full(3, 2.0))
    feedback.commit({1})
    assert set(feedback.residuals) == {1} and not feedback.pending
    assert np.array_equal(feedback.apply(1, np.zeros(3)), np.ones(3))
    assert np.array_equal(feedback.apply(2, np.zeros(3)), np.zeros(3))


@pytest.mark.parametrize("aggregator", ["plain", "secagg+"])
def test_the_run_keeps_one_residual_per_client_between_rounds(aggregator):
    clients = make_shift_clients(10, DIM, seed=4, scale=0.3)
    config = FedAvgConfig(aggregator=aggregator, clip=CLIP, rounds=3,
                          compression=SignVote(step=0.05, fraction=0.5),
                          simulation=Simulation(clients_per_round=6, seed=5))
    run = _Run(clients, config, make_aggregator(aggregator), None)
    flat, spec = flatten(initial(DIM))
    seen: set[int] = set()
    for r in range(1, 4):
        before = {c: v.copy() for c, v in run.feedback.residuals.items()}
        flat, record = run.round(r, flat, spec)
        assert not record.skipped
        for c in record.survivors:
            assert not np.array_equal(run.feedback.residuals[c], before.get(c))  # carried anew
        for c in set(before) - set(record.survivors):
            assert np.array_equal(run.feedback.residuals[c], before[c])  # left as it was
        seen |= set(record.survivors)
        assert all(np.abs(v).max() <= CLIP for v in run.feedback.residuals.values())
    assert set(run.feedback.residuals) == seen
