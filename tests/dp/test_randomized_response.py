"""Randomized response: report frequencies match the design (chi-square at ALPHA), the
estimators are unbiased (z-test at Z), inputs are validated."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dp import randomized_response as rr
from dp.errors import DPError
from tests.dp.conftest import ALPHA, Z


@pytest.mark.parametrize(("k", "eps"), [(2, 0.5), (2, 2.0), (5, 1.0), (17, 3.0)])
def test_report_distribution(seeded, k, eps):
    n = 100_000
    truth = 1 % k
    reports = rr.randomize_kary(np.full(n, truth), k, eps, rng=seeded(f"rr{k}{eps}"))
    p = math.exp(eps) / (math.exp(eps) + k - 1)
    expected = np.full(k, (1 - p) / (k - 1) * n)
    expected[truth] = p * n
    assert stats.chisquare(np.bincount(reports, minlength=k), expected).pvalue > ALPHA


@pytest.mark.parametrize(("k", "eps"), [(2, 1.0), (6, 1.5)])
def test_frequency_estimator_unbiased(seeded, k, eps):
    n = 200_000
    src = seeded(f"est{k}")
    true_freq = np.arange(1, k + 1) / np.arange(1, k + 1).sum()
    values = np.repeat(np.arange(k), (true_freq * n).astype(int))
    reports = rr.randomize_kary(values, k, eps, rng=src)
    est = rr.estimate_frequencies(reports, k, eps)
    p = rr.keep_probability(eps, k)
    q = (1 - p) / (k - 1)
    # sd of each estimate: sqrt(share (1-share) / n) / (p - q), share <= 1
    sd = 0.5 / math.sqrt(values.size) / (p - q)
    assert np.all(np.abs(est - np.bincount(values, minlength=k) / values.size) < Z * sd)
    assert est.sum() == pytest.approx(1.0)


def test_binary(seeded):
    bits = np.zeros(100_000, dtype=np.int64)
    bits[:30_000] = 1
    reports = rr.randomize_binary(bits, 1.0, rng=seeded("bin"))
    p = rr.keep_probability(1.0, 2)
    sd = 0.5 / math.sqrt(bits.size) / (2 * p - 1)
    assert abs(rr.estimate_mean_binary(reports, 1.0) - 0.3) < Z * sd


def test_noise_parameter_matches_keep_probability():
    for k, eps in [(2, 0.1), (10, 4.0)]:
        p = rr.noise_parameter(eps, k)
        assert 1 - p + p / k == pytest.approx(rr.keep_probability(eps, k))


@pytest.mark.parametrize(
    "call",
    [
        lambda: rr.randomize_kary(np.array([0, 3]), 3, 1.0),
        lambda: rr.randomize_kary(np.array([0.5]), 3, 1.0),
        lambda: rr.randomize_kary(np.array([0]), 1, 1.0),
        lambda: rr.randomize_kary(np.array([0]), 3, 0.0),
        lambda: rr.estimate_frequencies(np.array([], dtype=np.int64), 3, 1.0),
        # out-of-range reports used to be dropped silently (>= k) or raise a bare ValueError (< 0)
        lambda: rr.estimate_frequencies(np.array([0, 1, 3]), 3, 1.0),
        lambda: rr.estimate_frequencies(np.array([0, -1]), 3, 1.0),
        lambda: rr.estimate_frequencies(np.array([0.0, 1.0]), 3, 1.0),
        lambda: rr.keep_probability(float("nan"), 3),
        lambda: rr.randomize_binary(np.array([0, 2]), 1.0),
    ],
)
def test_bad_inputs(call):
    with pytest.raises(DPError):
        call()
