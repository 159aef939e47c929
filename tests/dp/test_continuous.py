"""Continuous noise: analytic calibration is tight (cross-checked with dp-accounting's PLD),
secure noise sits on the power-of-two grid with the right moments, the float path warns."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from dp import continuous as C
from dp.accounting import gaussian_epsilon
from dp.errors import DPError, InsecureNoiseWarning
from tests.dp.conftest import Z


@pytest.mark.parametrize(("eps", "delta"), [(0.5, 1e-5), (1.0, 1e-6), (4.0, 1e-9), (10.0, 1e-3)])
def test_analytic_gaussian_is_tight(eps, delta):
    sigma = C.calibrate_analytic_gaussian(eps, delta, sensitivity=2.0)
    assert C.gaussian_delta(sigma, eps, 2.0) <= delta
    assert C.gaussian_delta(sigma * (1 - 1e-6), eps, 2.0) > delta
    # the PLD accountant is (nearly) exact for one Gaussian: it must agree on epsilon
    assert gaussian_epsilon(sigma / 2.0, delta, method="pld") == pytest.approx(eps, abs=2e-3)


def test_analytic_beats_classical_calibration():
    eps, delta = 0.5, 1e-5
    classical = math.sqrt(2 * math.log(1.25 / delta)) / eps
    assert C.calibrate_analytic_gaussian(eps, delta) < classical


@pytest.mark.parametrize("sigma", [1e-3, 1.0, 3.7e5])
def test_secure_gaussian_on_grid_with_right_moments(seeded, sigma):
    x = np.full(200_000, 0.3 * sigma)
    y = C.add_gaussian_noise(x, sigma, rng=seeded(f"g{sigma}"))
    g = C.grid_for(sigma, 15)
    assert np.array_equal(y / g, np.rint(y / g))  # every output is a grid multiple
    noise = y - np.rint(x / g) * g
    n = noise.size
    assert abs(noise.mean()) < Z * sigma / math.sqrt(n)
    assert abs(noise.var() / sigma**2 - 1) < Z * math.sqrt(2 / n)


def test_secure_laplace_moments(seeded):
    b = 2.5
    y = C.add_laplace_noise(np.zeros(200_000), b, rng=seeded("lap"))
    n = y.size
    assert abs(y.mean()) < Z * math.sqrt(2) * b / math.sqrt(n)
    assert abs(y.var() / (2 * b * b) - 1) < Z * math.sqrt(5 / n)  # kurtosis 6
    g = C.grid_for(b, 20)
    assert np.array_equal(y / g, np.rint(y / g))


def test_float_path_warns_and_uses_the_source(seeded):
    with pytest.warns(InsecureNoiseWarning):
        a = C.add_gaussian_noise(np.zeros(1000), 1.0, rng=seeded("f"), secure=False)
    with pytest.warns(InsecureNoiseWarning):
        b = C.add_gaussian_noise(np.zeros(1000), 1.0, rng=seeded("f"), secure=False)
    assert np.array_equal(a, b)
    with pytest.warns(InsecureNoiseWarning):
        lap = C.add_laplace_noise(np.zeros(100_000), 1.0, rng=seeded("fl"), secure=False)
    assert abs(lap.var() / 2 - 1) < Z * math.sqrt(5 / lap.size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.add_gaussian_noise(np.zeros(10), 1.0, rng=seeded("s"))  # secure: silent


@pytest.mark.parametrize(
    "call",
    [
        lambda: C.calibrate_analytic_gaussian(0.0, 1e-5),
        lambda: C.calibrate_analytic_gaussian(1.0, 1.0),
        lambda: C.add_gaussian_noise(np.zeros(3), -1.0),
        lambda: C.add_gaussian_noise(np.array([np.inf]), 1.0),
    ],
)
def test_bad_inputs(call):
    with pytest.raises(DPError):
        call()
