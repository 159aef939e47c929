"""The quantizer and the subsampler are unbiased; a biased variant of each is caught.

Test: N independent encodings of one client's fixed vector x (weight w), each decoded alone;
per coordinate z_i = (mean_i - w x_i) / (sd_i / √N), and T = Σ z_i². Under "unbiased" T is
asymptotically χ² with d degrees of freedom, and the test fails when T exceeds the χ²_d
quantile at 1 - 1e-6: a false alarm rate of one in a million per test (up to the normal
approximation, good at N = 3000 for these bounded estimates). The power checks run the same
test on a biased variant (rounding up 10 points too often; the subsample without its d/k
rescaling) and require it to fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from fl_integration.compression import (
    CountSketch,
    Quantize,
    SignVote,
    Subsample,
    for_round,
    round_seed,
    stages,
)

FALSE_ALARM = 1e-6
TRIALS = 3000
DIM, N_CLIENTS, MAX_WEIGHT = 40, 10, 20.0


def _chi2_statistic(estimates: np.ndarray, truth: np.ndarray) -> tuple[float, int]:
    mean, sd = estimates.mean(axis=0), estimates.std(axis=0, ddof=1)
    moving = sd > 0
    assert np.allclose(mean[~moving], truth[~moving])  # a constant estimate must be exact
    z = (mean[moving] - truth[moving]) / (sd[moving] / np.sqrt(len(estimates)))
    return float(np.sum(z**2)), int(moving.sum())


def _unbiased(estimates: np.ndarray, truth: np.ndarray) -> bool:
    t, dof = _chi2_statistic(estimates, truth)
    return t <= chi2.isf(FALSE_ALARM, dof)


def _vector() -> np.ndarray:
    # |x_i| <= 0.1 over 40 coordinates: every rotated value is at most Σ|x_i| / 8 = 0.5, inside
    # the bound below, so no clip ever acts and unbiasedness must hold exactly
    return np.random.default_rng(3).uniform(-0.1, 0.1, DIM)


def _decoded(method, x, weight, *, fresh_seed: bool) -> np.ndarray:
    """TRIALS single-client decodes of (x, weight): fresh client randomness each time, and a
    fresh round seed too when the method's own choice is random (subsample, sketch)."""
    seed = round_seed()
    out = []
    for _ in range(TRIALS):
        round_ = for_round(method, seed=round_seed() if fresh_seed else seed, dimension=DIM,
                           clip=1.0)
        codec = round_.codec(n_clients=N_CLIENTS, max_weight=MAX_WEIGHT, bits=32)
        vec, w = codec.decode(codec.encode(x, weight), 1)
        out.append(np.append(vec, w))
    return np.array(out)


def test_quantizer_is_unbiased():
    x, weight = _vector(), 12.7  # a fractional weight: its digits are rounded too
    estimates = _decoded(Quantize(bits=2, bound=0.5), x, weight, fresh_seed=False)
    assert _unbiased(estimates, np.append(weight * x, weight))


def test_quantizer_on_a_shared_subsample_is_unbiased_over_seeds():
    x, weight = _vector(), 20.0
    estimates = _decoded(Quantize(bits=3, bound=0.5, fraction=0.5), x, weight, fresh_seed=True)
    assert _unbiased(estimates, np.append(weight * x, weight))


def test_power_a_quantizer_that_rounds_up_too_often_fails(monkeypatch):
    draws = np.random.default_rng(11)

    def biased(values, rng=None):
        v = np.asarray(values, dtype=np.float64)
        low = np.floor(v)
        up = np.minimum(1.0, v - low + 0.1)  # 10 points too likely to round up
        return (low + (draws.random(v.shape) < up)).astype(np.int64)

    monkeypatch.setattr(stages, "stochastic_round", biased)
    x = _vector()
    estimates = _decoded(Quantize(bits=2, bound=0.5), x, 20.0, fresh_seed=False)
    assert not _unbiased(estimates, np.append(20.0 * x, 20.0))


def test_subsampler_is_unbiased_over_seeds():
    x, weight = _vector(), 20.0
    estimates = _decoded(Subsample(fraction=0.3), x, weight, fresh_seed=True)
    assert _unbiased(estimates, np.append(weight * x, weight))


def test_power_a_subsampler_without_its_rescaling_fails():
    """With error feedback the server does not rescale (the client keeps the rest): per round
    that is biased by design, and the test sees it."""
    x = _vector()
    estimates = _decoded(Subsample(fraction=0.3, error_feedback=True), x, 20.0, fresh_seed=True)
    assert not _unbiased(estimates, np.append(20.0 * x, 20.0))


def test_count_sketch_is_unbiased_over_seeds():
    x, weight = _vector(), 20.0
    estimates = _decoded(CountSketch(width=8, depth=2, bits=8), x, weight, fresh_seed=True)
    assert _unbiased(estimates, np.append(weight * x, weight))


@pytest.mark.parametrize("step", [0.05, 0.5])
def test_sign_votes_decode_to_step_times_the_vote_count(step):
    round_ = for_round(SignVote(step=step), seed=round_seed(), dimension=DIM, clip=1.0)
    codec = round_.codec(n_clients=N_CLIENTS, max_weight=MAX_WEIGHT, bits=32)
    xs = np.random.default_rng(5).normal(size=(N_CLIENTS, DIM))
    words = sum(codec.encode(x, 1.0).astype(np.uint64) for x in xs) & np.uint64(
        (1 << codec.bits) - 1)
    vec, count = codec.decode(words, N_CLIENTS)
    assert count == N_CLIENTS
    assert np.array_equal(vec, step * np.sign(xs).sum(axis=0))
