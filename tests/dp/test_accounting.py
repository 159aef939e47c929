"""Accounting: the dp-accounting wrappers reproduce the reference values of issue 4 to 1e-4,
our own RDP formulas have the right limits and orderings, the ledger composes and converts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dp import accounting as A
from dp.errors import DPError

# Reference values quoted in issue 4 (computed with dp-accounting 0.6.0 defaults).
REFERENCE = [
    (dict(noise_multiplier=1.1, sampling_probability=0.01, steps=1000, method="rdp"), 1.711770),
    (dict(noise_multiplier=1.1, sampling_probability=0.01, steps=1000, method="pld"), 1.515370),
    (dict(noise_multiplier=0.8, method="rdp"), 6.122758),
    (dict(noise_multiplier=0.8, method="pld"), 5.679587),
]


@pytest.mark.parametrize(("kw", "expected"), REFERENCE)
def test_gaussian_reference_values(kw, expected):
    assert A.gaussian_epsilon(delta=1e-5, **kw) == pytest.approx(expected, abs=1e-4)


def test_ledger_reproduces_the_rdp_reference():
    ledger = A.PrivacyLedger()
    for _ in range(10):
        ledger.record(A.GaussianEvent(noise_multiplier=1.1, sampling_probability=0.01), steps=100)
    assert ledger.rounds == 1000
    eps, delta = ledger.spent(1e-5)
    assert (eps, delta) == (pytest.approx(1.711770, abs=1e-4), 1e-5)


def test_rdp_conversion_matches_dp_accounting():
    from dp_accounting.rdp.rdp_privacy_accountant import compute_epsilon

    rdp = A.gaussian_rdp(A.DEFAULT_ORDERS, 0.9) * 7
    ours = A.rdp_to_epsilon(A.DEFAULT_ORDERS, rdp, 1e-6)
    theirs = compute_epsilon(A.DEFAULT_ORDERS, rdp, 1e-6)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)


@pytest.mark.parametrize("eps", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("k", [2, 5])
def test_randomized_response_is_pure_eps(eps, k):
    """k-RR that keeps the truth with probability e^eps/(e^eps+k-1) is eps-DP (replace-one)."""
    p = k / (math.exp(eps) + k - 1)
    assert A.randomized_response_epsilon(p, k, 1e-12) == pytest.approx(eps, abs=1e-3)


def test_laplace_is_pure_eps():
    assert A.laplace_epsilon(2.0, 1e-12) == pytest.approx(0.5, abs=1e-3)
    assert A.laplace_epsilon(2.0, 1e-12, steps=3) == pytest.approx(1.5, abs=3e-3)


@given(st.floats(1.0, 1e4), st.floats(1.0, 1e3), st.integers(1, 50), st.integers(1, 10**6))
@settings(max_examples=60, deadline=None)
def test_ddg_bound_is_at_least_gaussian(sigma, l2, n, d):
    orders = [1.5, 2, 8, 64]
    ddg = A.ddg_rdp(orders, l2_sensitivity=l2, sigma=sigma, num_clients=n, dimension=d)
    gauss = A.gaussian_rdp(orders, math.sqrt(n) * sigma / l2)
    assert np.all(ddg >= gauss * (1 - 1e-12))


def test_ddg_approaches_gaussian_for_large_sigma():
    orders = [2, 16]
    ddg = A.ddg_rdp(orders, l2_sensitivity=10, sigma=5.0, num_clients=100, dimension=10**6)
    assert np.allclose(ddg, A.gaussian_rdp(orders, 50.0 / 10), rtol=1e-9)
    # small per-client sigma: tau makes the bound visibly larger
    small = A.ddg_rdp(orders, l2_sensitivity=1, sigma=0.5, num_clients=100, dimension=10**6)
    assert np.all(small > 10 * A.gaussian_rdp(orders, 5.0))


@pytest.mark.parametrize("mu", [1e4, 1e6, 1e8])
def test_skellam_approaches_gaussian(mu):
    orders = np.array([2.0, 8.0, 32.0])
    l2 = 50.0
    sk = A.skellam_rdp(orders, l2_sensitivity=l2, mu=mu)
    gauss = A.gaussian_rdp(orders, math.sqrt(2 * mu) / l2)
    assert np.all(sk >= gauss)
    assert np.all(sk / gauss - 1 < 50 / math.sqrt(mu))


def test_general_subsampling_bound_dominates_the_tight_gaussian_one():
    orders = [2, 3, 5, 8, 16, 32]
    ours = A.subsampled_rdp(orders, 0.01, lambda a: a / (2 * 1.1**2))
    lib = A.GaussianEvent(noise_multiplier=1.1, sampling_probability=0.01).rdp(orders)
    assert np.all(ours >= lib * (1 - 1e-9))
    assert np.all(ours <= A.gaussian_rdp(orders, 1.1))  # never worse than no sampling


def test_ledger_with_distributed_events_and_monotone():
    ledger = A.PrivacyLedger()
    ev = A.DistributedDiscreteGaussianEvent(l2_sensitivity=1000.0, sigma=300.0, num_clients=50,
                                            dimension=10**5, sampling_probability=0.05)
    prev = 0.0
    for _ in range(3):
        ledger.record(ev, steps=10)
        eps = ledger.epsilon(1e-5)
        assert eps > prev
        prev = eps
    sk = A.SkellamEvent(l2_sensitivity=1000.0, mu=50 * 300.0**2 / 2)
    ledger.record(sk)
    assert ledger.epsilon(1e-5) > prev and ledger.rounds == 31


def test_bad_inputs_leave_the_ledger_unchanged():
    ledger = A.PrivacyLedger()
    ledger.record(A.GaussianEvent(noise_multiplier=2.0))
    before = ledger.rdp
    with pytest.raises(DPError):
        ledger.record(A.GaussianEvent(noise_multiplier=2.0), steps=0)
    with pytest.raises(DPError):
        ledger.record(A.SkellamEvent(l2_sensitivity=-1.0, mu=3.0))
    assert np.array_equal(ledger.rdp, before) and ledger.rounds == 1
    with pytest.raises(DPError):
        ledger.epsilon(0.0)


def test_works_without_dp_accounting_except_its_wrappers():
    """dp imports and our own RDP/ledger work without the extra; wrappers say how to install it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['dp_accounting'] = None\n"
        "import dp\n"
        "led = dp.PrivacyLedger()\n"
        "led.record(dp.SkellamEvent(l2_sensitivity=10.0, mu=1e4))\n"
        "assert 0 < led.epsilon(1e-5) < 100\n"
        "try:\n"
        "    dp.gaussian_epsilon(1.0, 1e-5)\n"
        "except ImportError as e:\n"
        "    assert 'secagg[dp]' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_laplace_event_in_ledger():
    ledger = A.PrivacyLedger()
    ledger.record(A.LaplaceEvent(noise_multiplier=1.0), steps=2)
    # pure 1-DP twice is 2-DP; RDP conversion at finite orders costs a little on top
    assert 1.5 < ledger.epsilon(1e-6) < 2.01


# --- Poisson subsampling (Zhu & Wang 2019) cross-checked with dp-accounting -------------------

GRID_Q = [1e-3, 0.01, 0.1, 0.5, 0.8, 0.99, 1.0]
GRID_SIGMA = [0.5, 1.0, 2.0, 5.0]
INT_ORDERS = [2, 3, 4, 5, 8, 16, 32, 64, 128, 256, 512, 1024]


def _dpa_sampled_gaussian(q, sigma, orders):
    import dp_accounting as dpa

    acc = dpa.rdp.RdpAccountant(orders=list(orders))
    acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)))
    return np.asarray(acc._rdp, dtype=np.float64)


@pytest.mark.parametrize("q", GRID_Q)
@pytest.mark.parametrize("sigma", GRID_SIGMA)
def test_subsampled_bound_is_sandwiched_by_dp_accounting(q, sigma):
    """For the Gaussian, dp-accounting's RDP is exact (Mironov et al. 2019) and equals the
    Zhu-Wang sum without the factor 3, so at integer orders:
    exact <= ours <= exact + log(3)/(alpha - 1). Before the fix, q = 0.8 / 0.99 raised
    'math domain error' ((1-q)^(alpha-1) underflowed to 0 and was passed to log)."""
    a = np.asarray(INT_ORDERS, dtype=np.float64)
    ours = A.subsampled_rdp(INT_ORDERS, q, lambda k: k / (2 * sigma**2))
    exact = _dpa_sampled_gaussian(q, sigma, INT_ORDERS)
    assert np.all(np.isfinite(ours))
    assert np.all(ours >= exact - 1e-12 * np.maximum(1.0, exact))
    assert np.all(ours <= exact + math.log(3) / (a - 1) + 1e-9 * np.maximum(1.0, exact))
    if q == 1:
        assert np.array_equal(ours, a / (2 * sigma**2))


@pytest.mark.parametrize("q", [0.01, 0.8, 0.99])
def test_subsampled_bound_at_fractional_orders_is_the_next_integer(q):
    frac = [1.1, 1.5, 2.5, 10.5, 63.2]
    ours = A.subsampled_rdp(frac, q, lambda k: k / 2.0)
    at_ceil = A.subsampled_rdp([2, 2, 3, 11, 64], q, lambda k: k / 2.0)
    assert np.array_equal(ours, at_ceil)
    exact = _dpa_sampled_gaussian(q, 1.0, frac)
    ok = np.isfinite(exact)  # dp-accounting gives up (inf) at some fractional orders for large q
    assert ok.sum() >= 3
    assert np.all(ours[ok] >= exact[ok] - 1e-12 * np.maximum(1.0, exact[ok]))


def test_subsampled_bound_over_the_default_orders_near_q_one():
    for q in [0.8, 0.9, 0.99, 0.999999, 1.0]:
        curve = A.subsampled_rdp(A.DEFAULT_ORDERS, q, lambda k: k / 2.0)
        assert np.all(np.isfinite(curve)) and np.all(curve > 0)
        assert np.all(np.diff(curve) >= -1e-12)  # non-decreasing in the order


@pytest.mark.parametrize("q", [0.8, 0.99])
def test_distributed_events_accept_large_sampling_rates(q):
    ddg = dict(l2_sensitivity=300.0, sigma=40.0, num_clients=20, dimension=4096)
    sk = dict(l2_sensitivity=300.0, mu=20 * 40.0**2 / 2)
    for cls, kw in ((A.DistributedDiscreteGaussianEvent, ddg), (A.SkellamEvent, sk)):
        full = cls(**kw).rdp(A.DEFAULT_ORDERS)
        sampled = cls(sampling_probability=q, **kw).rdp(A.DEFAULT_ORDERS)
        assert np.all(np.isfinite(sampled)) and np.all(sampled <= full)
        ledger = A.PrivacyLedger()
        ledger.record(cls(sampling_probability=q, **kw), steps=5)
        assert 0 < ledger.epsilon(1e-5) < math.inf


@pytest.mark.parametrize("q", [0.001, 0.3, 0.8])
def test_subsampled_unsampled_curve_is_evaluated_once_per_integer_order(q):
    calls = []
    A.subsampled_rdp(A.DEFAULT_ORDERS, q, lambda k: calls.append(k) or k / 2.0)
    assert sorted(calls) == list(range(2, 1025))


@pytest.mark.parametrize(
    "call",
    [
        lambda: A.subsampled_rdp([2], 0.0, lambda k: k),
        lambda: A.subsampled_rdp([2], 1.5, lambda k: k),
        lambda: A.subsampled_rdp([2], float("nan"), lambda k: k),
        lambda: A.subsampled_rdp([1.0], 0.5, lambda k: k),
        lambda: A.subsampled_rdp([float("inf")], 0.5, lambda k: k),
    ],
)
def test_subsampled_bad_inputs(call):
    with pytest.raises(DPError, match="sampling_probability|orders"):
        call()


# --- our RDP formulas against the exact Renyi divergence, computed numerically in 1-D ----------


def _renyi(logp: np.ndarray, logq: np.ndarray, alpha: float) -> float:
    from scipy.special import logsumexp

    return float(logsumexp(alpha * logp + (1 - alpha) * logq) / (alpha - 1))


def _shift_divergence(logp: np.ndarray, shift: int, alpha: float) -> float:
    """max of D_alpha(P || P + shift) and D_alpha(P + shift || P) for an integer pmf on a window
    wide enough that the cut-off mass is negligible."""
    lq = np.roll(logp, shift)
    keep = slice(shift, logp.size - shift)
    p, q = logp[keep], lq[keep]
    return max(_renyi(p, q, alpha), _renyi(q, p, alpha))


@pytest.mark.parametrize("mu", [0.5, 5.0, 50.0, 500.0])
@pytest.mark.parametrize("shift", [1, 3])
def test_skellam_rdp_bounds_the_exact_divergence(mu, shift):
    """AKL 2021 with variance 2 mu: a factor-2 slip in mu (variance vs Poisson rate) fails here,
    since for large mu the exact divergence is the Gaussian's alpha D^2 / (4 mu)."""
    from scipy.special import ive

    r = int(60 * math.sqrt(2 * mu) + 200)
    k = np.arange(-r, r + 1)
    with np.errstate(divide="ignore"):
        logp = np.log(ive(np.abs(k), 2 * mu))
    logp = np.maximum(logp, -700.0)
    for alpha in [1.5, 2, 8, 32]:
        exact = _shift_divergence(logp, shift, alpha)
        ours = float(A.skellam_rdp([alpha], l2_sensitivity=shift, mu=mu)[0])
        assert ours >= exact
    if mu >= 500:  # and it is tight in the Gaussian limit
        assert ours <= 1.01 * exact


@pytest.mark.parametrize("sigma", [0.5, 0.7, 1.0, 2.0])
@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_ddg_rdp_bounds_the_exact_divergence(sigma, n):
    """The sum of n discrete Gaussians N_Z(0, sigma^2) (exact convolution) shifted by 1 or 2."""
    r = int(40 * sigma + 40)
    z = np.arange(-r, r + 1)
    p = np.exp(-(z**2) / (2 * sigma**2))
    total = np.ones(1)
    for _ in range(n):
        total = np.convolve(total, p / p.sum())
    logp = np.log(np.maximum(total, 1e-300))
    for shift in (1, 2):
        for alpha in [1.5, 2, 8, 32]:
            exact = _shift_divergence(logp, shift, alpha)
            ours = float(A.ddg_rdp([alpha], l2_sensitivity=shift, sigma=sigma, num_clients=n,
                                   dimension=1)[0])
            assert ours >= exact * (1 - 1e-9)


# --- typed errors with the parameter's name -----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: A.gaussian_epsilon(0.0, 1e-5), "noise_multiplier"),
        (lambda: A.gaussian_epsilon(-1.0, 1e-5), "noise_multiplier"),
        (lambda: A.gaussian_epsilon(1.0, 0.0), "delta"),
        (lambda: A.gaussian_epsilon(1.0, 1.0), "delta"),
        (lambda: A.gaussian_epsilon(1.0, float("nan")), "delta"),
        (lambda: A.gaussian_epsilon(1.0, 1e-5, sampling_probability=0.0), "sampling_probability"),
        (lambda: A.gaussian_epsilon(1.0, 1e-5, sampling_probability=1.01), "sampling_probability"),
        (lambda: A.gaussian_epsilon(1.0, 1e-5, steps=0), "steps"),
        (lambda: A.gaussian_epsilon(1.0, 1e-5, steps=2.5), "steps"),
        (lambda: A.laplace_epsilon(1.0, 2.0), "delta"),
        (lambda: A.randomized_response_epsilon(0.0, 2, 1e-5), "noise_parameter"),
        (lambda: A.randomized_response_epsilon(0.5, 1, 1e-5), "num_buckets"),
        (lambda: A.GaussianEvent(noise_multiplier=0.0), "noise_multiplier"),
        (lambda: A.GaussianEvent(noise_multiplier=1.0, sampling_probability=0.0),
         "sampling_probability"),
        (lambda: A.LaplaceEvent(noise_multiplier=-2.0), "noise_multiplier"),
        (lambda: A.DistributedDiscreteGaussianEvent(l2_sensitivity=1.0, sigma=0.4, num_clients=3,
                                                    dimension=4), "sigma"),
        (lambda: A.DistributedDiscreteGaussianEvent(l2_sensitivity=1.0, sigma=1.0, num_clients=0,
                                                    dimension=4), "num_clients"),
        (lambda: A.DistributedDiscreteGaussianEvent(l2_sensitivity=1.0, sigma=1.0, num_clients=2,
                                                    dimension=4, sampling_probability=2.0),
         "sampling_probability"),
        (lambda: A.SkellamEvent(l2_sensitivity=1.0, mu=0.0), "mu"),
        (lambda: A.SkellamEvent(l2_sensitivity=1.0, mu=1.0, l1_sensitivity=-1.0), "l1_sensitivity"),
        (lambda: A.rdp_to_epsilon([2.0], [1.0], 1.5), "delta"),
    ],
)
def test_bad_inputs_raise_typed_errors_naming_the_parameter(call, name):
    with pytest.raises(DPError, match=name):
        call()
