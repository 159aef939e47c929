"""Continuous noise: analytic calibration is tight (cross-checked with dp-accounting's PLD),
secure noise sits on the power-of-two grid with the right moments, the float path warns."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

from dp import continuous as C
from dp.accounting import gaussian_epsilon
from dp.errors import DPError, InsecureNoiseWarning
from dp.rng import AesCtrSource
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


# --- the analytic Gaussian against an independent high-precision solution -----------------------


def _mp_sigma(eps: float, delta: float, sens: float) -> float:
    """sigma solving Phi(D/2s - e s/D) - e^e Phi(-D/2s - e s/D) = delta at 40 digits (mpmath)."""
    import mpmath

    mpmath.mp.dps = 40
    e, d, dl = mpmath.mpf(eps), mpmath.mpf(sens), mpmath.mpf(delta)

    def f(s):
        return (mpmath.ncdf(d / (2 * s) - e * s / d) - mpmath.exp(e) * mpmath.ncdf(-d / (2 * s) - e * s / d)
                - dl)

    lo, hi = mpmath.mpf("1e-6") * d, d
    while f(hi) > 0:
        lo, hi = hi, 2 * hi
    for _ in range(200):  # bisection: f decreases in s
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return float(hi)


@pytest.mark.parametrize(("eps", "delta", "sens"), [(0.1, 1e-5, 1.0), (0.5, 1e-5, 2.0),
                                                    (1.0, 1e-5, 1.0), (1.0, 1e-10, 3.0),
                                                    (4.0, 1e-9, 2.0), (8.0, 1e-5, 2.0),
                                                    (20.0, 1e-6, 1.0), (0.01, 0.3, 1.0)])
def test_analytic_gaussian_matches_a_40_digit_solution(eps, delta, sens):
    sigma = C.calibrate_analytic_gaussian(eps, delta, sens)
    assert sigma == pytest.approx(_mp_sigma(eps, delta, sens), rel=1e-9)
    from scipy.stats import norm  # and the closed form evaluated by scipy holds at 1e-6

    def delta_of(s):
        return norm.cdf(sens / (2 * s) - eps * s / sens) - math.exp(eps) * norm.cdf(
            -sens / (2 * s) - eps * s / sens)

    assert delta_of(sigma) <= delta * (1 + 1e-9)
    assert delta_of(sigma * (1 - 1e-6)) > delta


def test_analytic_gaussian_known_value():
    """eps = 1, delta = 1e-5, sensitivity 1: sigma = 3.7306 (the classical bound says 4.84)."""
    assert C.calibrate_analytic_gaussian(1.0, 1e-5) == pytest.approx(3.7306, abs=1e-4)


# --- the secure path never uses less noise than asked; inputs are validated on every path ------


@pytest.mark.parametrize("sigma", [0.1 * k + 0.013 for k in range(1, 40)] + [math.pi, 1e-3 / 3])
def test_secure_gaussian_noise_parameter_is_rounded_up(monkeypatch, sigma):
    """The old code passed the float (sigma/g)^2, which the sampler rounded to the *nearest*
    small-denominator fraction: about half the time slightly below the sigma that was calibrated."""
    from dp import samplers

    seen = []
    real = samplers.discrete_gaussian
    monkeypatch.setattr(samplers, "discrete_gaussian",
                        lambda s2, size, rng=None: seen.append(s2) or real(s2, size, rng=rng))
    C.add_gaussian_noise(np.zeros(3), sigma, rng=AesCtrSource(b"r" * 32))
    used = seen[0] if not isinstance(seen[0], float) else samplers._sigma2_rational(seen[0])
    g = C.gaussian_grid(sigma)
    exact = (Fraction(sigma) / Fraction(g)) ** 2
    assert exact <= used <= exact * (1 + 2.0**-25)


@pytest.mark.parametrize("scale", [0.1 * k + 0.013 for k in range(1, 20)] + [math.e])
def test_secure_laplace_noise_parameter_is_rounded_up(monkeypatch, scale):
    from dp import samplers

    seen = []
    real = samplers.discrete_laplace
    monkeypatch.setattr(samplers, "discrete_laplace",
                        lambda b, size, rng=None: seen.append(b) or real(b, size, rng=rng))
    C.add_laplace_noise(np.zeros(3), scale, rng=AesCtrSource(b"l" * 32))
    used = samplers.as_rational(seen[0], name="scale")
    exact = Fraction(scale) / Fraction(C.grid_for(scale, 20))
    assert exact <= used <= exact * (1 + 2.0**-34)


@pytest.mark.parametrize("secure", [True, False])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_noise_scale_is_checked_on_both_paths(secure, bad):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureNoiseWarning)
        with pytest.raises(DPError, match="sigma"):
            C.add_gaussian_noise(np.zeros(3), bad, secure=secure)
        with pytest.raises(DPError, match="scale"):
            C.add_laplace_noise(np.zeros(3), bad, secure=secure)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: C.calibrate_analytic_gaussian(-1.0, 1e-5), "epsilon"),
        (lambda: C.calibrate_analytic_gaussian(1.0, 0.0), "delta"),
        (lambda: C.calibrate_analytic_gaussian(1.0, 1.5), "delta"),
        (lambda: C.calibrate_analytic_gaussian(1.0, 1e-5, 0.0), "sensitivity"),
        (lambda: C.calibrate_analytic_gaussian(800.0, 1e-5), "epsilon"),
        (lambda: C.gaussian_delta(0.0, 1.0), "sigma"),
        (lambda: C.gaussian_delta(1.0, -1.0), "epsilon"),
    ],
)
def test_calibration_errors_name_the_parameter(call, name):
    with pytest.raises(DPError, match=name):
        call()
