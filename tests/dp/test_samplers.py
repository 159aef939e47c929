"""Exact samplers: kernels agree with the pure-Python reference, pmfs fit (chi-square at ALPHA),
moments fit (z-tests at Z), the CSPRNG path is the only source, refills replay exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from dp import _kernels as K
from dp import _poisson as _pf
from dp import _poisson_exact as _px
from dp import _reference as R
from dp import samplers
from dp.errors import DPError
from dp.rng import AesCtrSource
from tests.dp.conftest import ALPHA, Z, binned_chi_square_pvalue, chi_square_pvalue

SEED_WORDS = 300_000


def _words(seeded, tag):
    w = np.empty(SEED_WORDS, dtype=np.uint64)
    seeded(tag).fill(w)
    return w


@pytest.mark.parametrize("sigma2", [Fraction(1), Fraction(7, 3), Fraction(10**4), Fraction(10**8)])
def test_discrete_gaussian_kernel_matches_reference(seeded, sigma2):
    w = _words(seeded, f"dg{sigma2}")
    n, d, t = samplers.gaussian_params(sigma2)
    out, st = np.empty(2000, np.int64), np.zeros(4, np.uint64)
    assert K.fill_discrete_gaussian(out, 0, w, st, n, d, t, 1 << 20) == out.size
    bits = R.Bits(w)
    assert out.tolist() == [R.discrete_gaussian_ref(bits, n, d, t) for _ in range(out.size)]
    assert bits.pos == int(st[0])


@pytest.mark.parametrize("scale", [Fraction(1), Fraction(3, 2), Fraction(1000, 7)])
def test_discrete_laplace_kernel_matches_reference(seeded, scale):
    w = _words(seeded, f"dl{scale}")
    out, st = np.empty(2000, np.int64), np.zeros(4, np.uint64)
    s, t = scale.denominator, scale.numerator
    K.fill_discrete_laplace(out, 0, w, st, s, t, 1 << 20)
    bits = R.Bits(w)
    assert out.tolist() == [R.discrete_laplace_ref(bits, s, t) for _ in range(out.size)]


def _exact_stream(seed: bytes) -> _px.Stream:
    return _px.Stream(np.empty(0, np.uint64), 0, 0, 0, AesCtrSource(seed))


@pytest.mark.parametrize("lam", [Fraction(3, 10), Fraction(15, 2), Fraction(400), Fraction(7001, 3)])
def test_poisson_fast_path_equals_exact_algorithm(lam):
    """The float-certified kernel makes exactly the big-int algorithm's decisions."""
    seed = f"po{lam}".encode().ljust(32, b".")
    fast = samplers.poisson(lam, 2000, rng=AesCtrSource(seed))
    stream = _exact_stream(seed)
    exact = [_px.poisson_one(stream, lam.numerator, lam.denominator) for _ in range(fast.size)]
    assert fast.tolist() == exact


@pytest.mark.parametrize("mu", [Fraction(1, 3), Fraction(2000)])
def test_forced_fallbacks_still_follow_the_exact_algorithm(monkeypatch, mu):
    """Inflate the certified error bounds so that many draws go through the exact replay."""
    real = _pf.tables.__wrapped__

    def loose(a, b):
        params, mid, right, left = real(a, b)
        return (*params[:-2], 0.3, 0.3), mid, right, left

    monkeypatch.setattr(_pf, "tables", loose)
    replays = []
    original = samplers._replay
    monkeypatch.setattr(samplers, "_replay", lambda *a: replays.append(1) or original(*a))
    seed = f"fb{mu}".encode().ljust(32, b".")
    fast = samplers.skellam(mu, 400, rng=AesCtrSource(seed))
    stream = _exact_stream(seed)
    a, b = mu.numerator, mu.denominator
    exact = [_px.poisson_one(stream, a, b) - _px.poisson_one(stream, a, b) for _ in range(400)]
    assert fast.tolist() == exact
    assert len(replays) > 50


def test_skellam_large_mu_moments(seeded):
    mu = 5 * 10**7  # sigma = 10^4
    _assert_moments(samplers.skellam(mu, 200_000, rng=seeded("bigmu")), 2.0 * mu)


@pytest.mark.parametrize("sigma2", [Fraction(1, 4), Fraction(1), Fraction(7, 3), Fraction(25)])
def test_discrete_gaussian_pmf(seeded, sigma2):
    x = samplers.discrete_gaussian(sigma2, 200_000, rng=seeded(f"pmf{sigma2}"))
    p = chi_square_pvalue(x, lambda z: R.discrete_gaussian_pmf(float(sigma2), z))
    assert p > ALPHA


@pytest.mark.parametrize("scale", [Fraction(1, 2), Fraction(1), Fraction(7, 2)])
def test_discrete_laplace_pmf(seeded, scale):
    x = samplers.discrete_laplace(scale, 200_000, rng=seeded(f"lap{scale}"))
    assert chi_square_pvalue(x, lambda z: R.discrete_laplace_pmf(float(scale), z)) > ALPHA


@pytest.mark.parametrize("lam", [Fraction(3, 10), Fraction(1), Fraction(15, 2), Fraction(40),
                                 Fraction(20001, 7)])
def test_poisson_pmf(seeded, lam):
    x = samplers.poisson(lam, 100_000, rng=seeded(f"poi{lam}"))
    pmf = lambda z: np.where(z >= 0, R.poisson_pmf(float(lam), np.maximum(z, 0)), 0.0)  # noqa: E731
    assert chi_square_pvalue(x, pmf) > ALPHA


@pytest.mark.parametrize("mu", [Fraction(1, 2), Fraction(3), Fraction(2000)])
def test_skellam_pmf(seeded, mu):
    x = samplers.skellam(mu, 100_000, rng=seeded(f"sk{mu}"))
    assert chi_square_pvalue(x, lambda z: R.skellam_pmf(float(mu), z)) > ALPHA


def _assert_moments(x: np.ndarray, var: float, kurtosis: float = 3.0) -> None:
    """z-tests on mean and variance (false-alarm rate ~1.4e-5 for both together)."""
    n = x.size
    assert abs(x.mean()) < Z * np.sqrt(var / n)
    assert abs(x.var() - var) < Z * var * np.sqrt((kurtosis - 1) / n)


@pytest.mark.parametrize("sigma", [100, 10_000])
def test_discrete_gaussian_moments_large_sigma(seeded, sigma):
    _assert_moments(samplers.discrete_gaussian(sigma * sigma, 300_000, rng=seeded(f"m{sigma}")),
                    float(sigma) ** 2)


def test_skellam_moments(seeded):
    mu = 5000
    x = samplers.skellam(mu, 50_000, rng=seeded("skm"))
    _assert_moments(x, 2.0 * mu, kurtosis=3.0 + 1 / (2 * mu))


def test_discrete_laplace_large_scale_moments(seeded):
    scale = 10_000
    q = np.exp(-1 / scale)
    x = samplers.discrete_laplace(scale, 300_000, rng=seeded("dlm"))
    _assert_moments(x, 2 * q / (1 - q) ** 2, kurtosis=6.0)


def test_seeded_source_is_reproducible_and_default_is_not():
    seed = b"k" * 32
    a = samplers.discrete_gaussian(100, 1000, rng=AesCtrSource(seed))
    b = samplers.discrete_gaussian(100, 1000, rng=AesCtrSource(seed))
    assert np.array_equal(a, b)
    c = samplers.discrete_gaussian(100, 1000)
    d = samplers.discrete_gaussian(100, 1000)
    assert not np.array_equal(c, d)  # equal with probability ~1e-1600
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("words", [3, 64, 1000])
def test_refill_replays_the_stream_exactly(monkeypatch, words):
    """Small buffers force many refills (and growth when one draw needs > the buffer)."""
    big = samplers.discrete_gaussian(10**8, 3000, rng=AesCtrSource(b"f" * 32))
    sk = samplers.skellam(50, 300, rng=AesCtrSource(b"g" * 32))
    monkeypatch.setattr(samplers, "_WORDS", words)
    assert np.array_equal(samplers.discrete_gaussian(10**8, 3000, rng=AesCtrSource(b"f" * 32)), big)
    assert np.array_equal(samplers.skellam(50, 300, rng=AesCtrSource(b"g" * 32)), sk)


def test_sources_are_the_only_randomness():
    class Counting(AesCtrSource):
        calls = 0

        def fill(self, out):
            Counting.calls += 1
            super().fill(out)

    samplers.skellam(2, 10, rng=Counting(b"c" * 32))
    assert Counting.calls >= 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: samplers.discrete_gaussian(0, 3),
        lambda: samplers.discrete_gaussian(-1.0, 3),
        lambda: samplers.discrete_gaussian(float("nan"), 3),
        lambda: samplers.discrete_gaussian(Fraction(10**20, 3), 3),
        lambda: samplers.discrete_laplace(0, 3),
        lambda: samplers.skellam(1, -1),
        lambda: samplers.poisson("1", 3),
        lambda: samplers.skellam(2**40, 3),
    ],
)
def test_bad_parameters_raise(call):
    with pytest.raises(DPError):
        call()


def test_float_sigma2_becomes_a_close_rational():
    f = samplers._sigma2_rational(2.345678)
    assert abs(float(f) - 2.345678) < 1e-8
    n, d, t = samplers.gaussian_params(samplers._sigma2_rational(9.9e7 + 0.5))
    assert 2 * n * d * t * t < 1 << 62


# --- goodness of fit at small and large sigma, and the power of these tests ---------------------


def _dg_exact(sigma2: float):
    r = int(60 * np.sqrt(sigma2) + 60)
    support = np.arange(-r, r + 1)
    return support, R.discrete_gaussian_pmf(sigma2, support)


def _var_kurtosis(support: np.ndarray, pmf: np.ndarray) -> tuple[float, float]:
    """Exact variance and kurtosis of a symmetric pmf (the z-test's standard error needs both:
    at sigma = 0.5 the kurtosis is ~4.7, not the Gaussian 3)."""
    z = support.astype(np.float64)
    var = float(np.sum(z**2 * pmf))
    return var, float(np.sum(z**4 * pmf)) / var**2


DG_SIGMA2 = [Fraction(1, 4), Fraction(1), Fraction(109, 10), Fraction(10**4), Fraction(10**8)]


@pytest.mark.parametrize("sigma2", DG_SIGMA2)
def test_discrete_gaussian_binned_chi_square(seeded, sigma2):
    """sigma = 0.5 ... 1e4 against the exact pmf, ~100 equal-probability bins, false alarm ALPHA."""
    x = samplers.discrete_gaussian(sigma2, 200_000, rng=seeded(f"bchi{sigma2}"))
    support, pmf = _dg_exact(float(sigma2))
    assert binned_chi_square_pvalue(x, support, pmf) > ALPHA
    _assert_moments(x, *_var_kurtosis(support, pmf))


@pytest.mark.parametrize("sigma2", [Fraction(1, 4), Fraction(10**8)])
def test_the_distribution_tests_catch_sigma_off_by_5_percent(seeded, sigma2):
    """Power: draws with sigma 5% too large (or small) fail both the chi-square and the moment
    test against the intended sigma, so the tests above can fail."""
    support, pmf = _dg_exact(float(sigma2))
    var, kurtosis = _var_kurtosis(support, pmf)
    for factor in (Fraction(105, 100), Fraction(95, 100)):
        x = samplers.discrete_gaussian(sigma2 * factor**2, 200_000, rng=seeded(f"pow{factor}"))
        assert binned_chi_square_pvalue(x, support, pmf) < ALPHA
        with pytest.raises(AssertionError):
            _assert_moments(x, var, kurtosis)


def test_discrete_laplace_large_scale_binned_chi_square_and_power(seeded):
    scale = 10_000
    support = np.arange(-40 * scale, 40 * scale + 1)
    pmf = R.discrete_laplace_pmf(float(scale), support)
    x = samplers.discrete_laplace(scale, 200_000, rng=seeded("blap"))
    assert binned_chi_square_pvalue(x, support, pmf) > ALPHA
    off = samplers.discrete_laplace(Fraction(105 * scale, 100), 200_000, rng=seeded("blap5"))
    assert binned_chi_square_pvalue(off, support, pmf) < ALPHA


def test_skellam_sigma_1e4_binned_chi_square_and_power(seeded):
    mu = 5 * 10**7  # variance 2 mu = 1e8
    r = 600_060
    support = np.arange(-r, r + 1)
    pmf = R.skellam_pmf(float(mu), support)
    x = samplers.skellam(mu, 200_000, rng=seeded("bsk"))
    assert binned_chi_square_pvalue(x, support, pmf) > ALPHA
    off = samplers.skellam(Fraction(11025 * mu, 10_000), 200_000, rng=seeded("bsk5"))  # sigma+5%
    assert binned_chi_square_pvalue(off, support, pmf) < ALPHA


def test_discrete_gaussian_kernel_matches_reference_with_a_large_denominator(seeded):
    """A float sigma^2 becomes n/d with d ~ 2^29, so |y| t d - n exceeds 3037000499 and the
    128-bit path of bern_exp_square is taken: it must still follow the reference exactly."""
    f = samplers._sigma2_rational(2**0.5 * 1.7)
    n, d, t = samplers.gaussian_params(f)
    assert 5 * t * d - n > 3037000499
    w = _words(seeded, "bigden")
    out, st = np.empty(10_000, np.int64), np.zeros(4, np.uint64)
    assert K.fill_discrete_gaussian(out, 0, w, st, n, d, t, 1 << 20) == out.size
    assert np.abs(out).max() >= 5  # some outputs were accepted on the 128-bit path
    bits = R.Bits(w)
    assert out.tolist() == [R.discrete_gaussian_ref(bits, n, d, t) for _ in range(out.size)]


# --- every randomized function draws only from the given source, or from os.urandom ------------


def _randomized_calls():
    from dp import continuous, distributed, local, randomized_response

    plan = distributed.plan_distributed(dimension=20, l2_clip=1.0, noise_multiplier=1.0,
                                        n_clients=3, n_min=2)
    sk_plan = distributed.plan_distributed(dimension=20, l2_clip=1.0, noise_multiplier=1.0,
                                           n_clients=3, n_min=2, mechanism="skellam")
    x = np.linspace(-1, 1, 20)
    return {
        "discrete_laplace": lambda rng: samplers.discrete_laplace(Fraction(7, 3), 500, rng=rng),
        "discrete_gaussian": lambda rng: samplers.discrete_gaussian(2.5, 500, rng=rng),
        "poisson": lambda rng: samplers.poisson(40, 500, rng=rng),
        "skellam": lambda rng: samplers.skellam(Fraction(9, 2), 500, rng=rng),
        "gaussian_noise": lambda rng: continuous.add_gaussian_noise(x, 0.7, rng=rng),
        "laplace_noise": lambda rng: continuous.add_laplace_noise(x, 0.7, rng=rng),
        "privatize_update": lambda rng: local.privatize_update(x, l2_clip=1.0, sigma=1.0,
                                                               rng=rng)[0],
        "randomize_kary": lambda rng: randomized_response.randomize_kary(
            np.arange(500) % 7, 7, 1.0, rng=rng),
        "encode_client": lambda rng: distributed.encode_client(x, plan, rotation_seed=b"r" * 32,
                                                               rng=rng),
        "encode_client_skellam": lambda rng: distributed.encode_client(
            x, sk_plan, rotation_seed=b"r" * 32, rng=rng),
    }


@pytest.mark.parametrize("name", sorted(_randomized_calls()))
def test_explicit_source_is_the_only_randomness(name, monkeypatch):
    """Same seed, same output (so nothing else random is consulted); with rng=None the source is
    AES-CTR keyed from os.urandom: fixing os.urandom fixes the output."""
    call = _randomized_calls()[name]
    a = call(AesCtrSource(b"s" * 32))
    assert np.array_equal(a, call(AesCtrSource(b"s" * 32)))
    assert not np.array_equal(a, call(AesCtrSource(b"t" * 32)))
    assert not np.array_equal(call(None), call(None))
    import dp.rng

    drawn = []
    monkeypatch.setattr(dp.rng.os, "urandom", lambda n: drawn.append(n) or b"u" * n)
    assert np.array_equal(call(None), call(None)) and drawn


@pytest.mark.parametrize("x", [0.1 * k + 0.013 for k in range(1, 30)] + [2.0**0.5, 1e-9, 3e5 / 7])
def test_float_parameters_are_rounded_up_never_down(x):
    """The old conversion took the closest small-denominator fraction, below the float about half
    the time: slightly less noise than requested. Now every float is rounded up."""
    assert Fraction(x) <= samplers._sigma2_rational(x) <= Fraction(x) + max(1, x) * 2.0**-29
    assert Fraction(x) <= samplers.as_rational(x) <= Fraction(x) + 2.0**-16
