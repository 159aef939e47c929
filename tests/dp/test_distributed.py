"""Distributed DP planner: the modulus never wraps by the stated bound, decode(sum(encode))
recovers the mean within the noise, the plan's noise and events are what was asked for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dp import distributed as D
from dp.accounting import PrivacyLedger
from dp.errors import DPError
from dp.rng import AesCtrSource
from tests.dp.conftest import Z

SEED = b"t" * 32


def _aggregate(plan, xs, tag):
    src = AesCtrSource(tag.ljust(32, b"."))
    mod = 1 << plan.bits
    acc = np.zeros(plan.length, dtype=np.int64)
    for x in xs:
        v = D.encode_client(x, plan, rotation_seed=SEED, rng=src)
        acc = (acc + (v % mod)) % mod  # what Z_{2^b} aggregation of the two's complement gives
    return acc


plans = st.builds(
    dict,
    dimension=st.integers(1, 300),
    l2_clip=st.floats(1e-2, 1e2),
    noise_multiplier=st.floats(0.3, 5.0),
    n_clients=st.integers(2, 12),
    mechanism=st.sampled_from(D.MECHANISMS),
    rotate=st.booleans(),
    wrap_probability=st.sampled_from([1e-3, 1e-9]),
)


@given(plans, st.integers(0, 10**6))
@settings(max_examples=25, deadline=None)
def test_decode_of_sum_recovers_the_mean(kw, salt):
    n = kw["n_clients"]
    plan = D.plan_distributed(n_min=max(1, n // 2), **kw)
    d, c = plan.dimension, plan.l2_clip
    # worst case for wrap-around: every client sends the same vector at the clip norm
    x = np.ones(d) * c / math.sqrt(d)
    xs = [x] * n
    agg = _aggregate(plan, xs, f"h{salt}".encode())
    mean = D.decode_mean(agg, plan, n, rotation_seed=SEED)
    # noise of the mean per coordinate: sqrt(n) client sigmas / (scale n), rounding <= 1/scale
    sd = math.sqrt(n * plan.client_variance) / (plan.scale * n)
    tol = (Z + math.sqrt(2 * math.log(2 * d))) * sd + 1.0 / plan.scale
    assert np.abs(mean - x).max() < tol
    # the stated bound fits in the bits
    assert plan.bits <= 62


@given(plans)
@settings(max_examples=60, deadline=None)
def test_bits_cover_the_wraparound_bound(kw):
    n = kw["n_clients"]
    plan = D.plan_distributed(n_min=max(1, n // 2), **kw)
    bound = D._sum_bound(
        mechanism=plan.mechanism, n=plan.n_clients, clip_scaled=plan.l2_clip * plan.scale,
        l2_bound=plan.l2_bound, length=plan.length, rotate=plan.rotate,
        variance=D._sampled_variance(plan.mechanism, plan.client_variance),
        wrap_probability=plan.wrap_probability)
    assert bound <= 2 ** (plan.bits - 1) - 1
    assert plan.bits == 8 or bound > 2 ** (plan.bits - 2) - 1  # and not wastefully large
    assert plan.bits >= 8
    # the noise term alone meets its tail at wrap_probability / 2 over all coordinates
    assert plan.client_sigma >= 0.5


@pytest.mark.parametrize("mechanism", D.MECHANISMS)
def test_noise_share_variance(mechanism):
    plan = D.plan_distributed(dimension=20_000, l2_clip=1.0, noise_multiplier=1.0, n_clients=10,
                              n_min=5, mechanism=mechanism, rotate=False, scale=30.0)
    assert plan.client_variance == pytest.approx(30.0**2 / 5)
    noise = D.client_noise(plan, rng=AesCtrSource(b"n" * 32))
    m = noise.size
    assert abs(noise.var() / plan.client_variance - 1) < Z * math.sqrt(2 / m)
    # n_min shares sum to the target std noise_multiplier * clip (original units)
    assert math.sqrt(plan.n_min * plan.client_variance) / plan.scale == pytest.approx(1.0)


def test_fixed_bits_gives_largest_fitting_scale():
    kw = dict(dimension=1000, l2_clip=1.0, noise_multiplier=1.0, n_clients=50, n_min=25)
    plan = D.plan_distributed(bits=20, **kw)
    assert plan.bits <= 20
    bigger = D.plan_distributed(scale=plan.scale * 1.01, **kw)
    assert bigger.bits > 20


def test_conditional_rounding_respects_the_bound():
    src = AesCtrSource(b"c" * 32)
    y = np.full(1000, 0.5)  # every coordinate maximally uncertain
    bound = D.inflated_l2_bound(float(np.linalg.norm(y)), y.size, math.exp(-0.5))
    for _ in range(20):
        assert np.linalg.norm(D._conditional_round(y, bound, src)) <= bound


def test_two_complement_matches_signed_embedding():
    bits = 12
    ints = np.array([-2048, -1, 0, 1, 2047], dtype=np.int64)
    embedded = (ints % (1 << bits)).astype(np.uint64)
    assert D.to_signed(embedded, bits).tolist() == ints.tolist()
    assert D.to_signed(ints, bits).tolist() == ints.tolist()


def test_plan_event_feeds_the_ledger():
    plan = D.plan_distributed(dimension=10_000, l2_clip=1.0, noise_multiplier=10.0, n_clients=100,
                              n_min=80)
    ledger = PrivacyLedger()
    ledger.record(plan.event(), steps=25)
    assert 0 < ledger.epsilon(1e-5) < 10


def _dpa_gaussian_epsilon(noise_multiplier: float, delta: float, steps: int = 1) -> float:
    """dp-accounting's RDP ε for ``steps`` continuous Gaussians with neighbouring means
    ``noise_multiplier`` sigmas apart (sigma over the replace-one sensitivity)."""
    import dp_accounting as dpa

    acc = dpa.rdp.RdpAccountant()
    acc.compose(dpa.GaussianDpEvent(noise_multiplier), steps)
    return float(acc.get_epsilon(delta))


def _dpa_pld_replace_one(sigma_over_bound: float, delta: float, steps: int = 1) -> float:
    """dp-accounting's (tight) PLD ε under its REPLACE_ONE, which doubles the shift itself."""
    import dp_accounting as dpa

    acc = dpa.pld.PLDAccountant(neighboring_relation=dpa.NeighboringRelation.REPLACE_ONE)
    acc.compose(dpa.GaussianDpEvent(sigma_over_bound), steps)
    return float(acc.get_epsilon(delta))


def _epsilon(event, delta: float = 1e-5, steps: int = 1) -> float:
    ledger = PrivacyLedger()
    ledger.record(event, steps=steps)
    return ledger.epsilon(delta)


@pytest.mark.parametrize("mechanism", D.MECHANISMS)
def test_event_uses_the_replace_one_sensitivities(mechanism):
    """Review finding 5: the event took one vector's bound as the sensitivity; replace-one needs
    twice it (L2), and the Skellam L1 bound of the integer difference."""
    plan = D.plan_distributed(dimension=1000, l2_clip=1.0, noise_multiplier=1.0, n_clients=100,
                              n_min=100, mechanism=mechanism)
    event = plan.event()
    assert event.l2_sensitivity == 2 * plan.l2_bound
    if mechanism == "skellam":
        d2 = 2 * plan.l2_bound
        assert event.l1_sensitivity == min(d2**2, math.sqrt(plan.length) * d2)


@pytest.mark.parametrize("mechanism", D.MECHANISMS)
def test_review_example_one_round_d1000_z1_n100(mechanism):
    """Review finding 5: d = 1000, z = 1, n = 100, one round, delta = 1e-5 reported 4.78; the
    replace-one ε is 10.86. Independently: dp-accounting's continuous Gaussian with the same
    honest noise over the doubled rounded-norm bound gives the same value (Skellam: a hair more)."""
    plan = D.plan_distributed(dimension=1000, l2_clip=1.0, noise_multiplier=1.0, n_clients=100,
                              n_min=100, mechanism=mechanism)
    eps = _epsilon(plan.event())
    assert eps == pytest.approx(10.86, abs=0.01)
    honest_sigma = math.sqrt(plan.n_min * plan.client_variance)
    gauss = _dpa_gaussian_epsilon(honest_sigma / (2 * plan.l2_bound), 1e-5)
    assert gauss * (1 - 1e-12) <= eps <= gauss * (1 + 1e-4)
    # dp-accounting's tight PLD under its REPLACE_ONE: about 10.1, never above our RDP bound
    tight = _dpa_pld_replace_one(honest_sigma / plan.l2_bound, 1e-5)
    assert 4.78 * 2 < tight <= eps


@given(st.floats(0.3, 8.0), st.integers(1, 60), st.integers(1, 5000), st.integers(1, 30),
       st.sampled_from(D.MECHANISMS))
@settings(max_examples=40, deadline=None)
def test_distributed_epsilon_is_close_to_and_never_below_the_continuous_gaussian(
        z, n_min, d, steps, mechanism):
    """With the doubled sensitivity, the discrete mechanisms cost at least dp-accounting's
    continuous Gaussian of the same noise multiplier (z/2 for replace-one), and at most what the
    rounding slack (l2_bound <= 1.01 gamma c) and the discreteness (tau, Skellam's extra) add."""
    plan = D.plan_distributed(dimension=d, l2_clip=1.0, noise_multiplier=z, n_clients=n_min + 3,
                              n_min=n_min, mechanism=mechanism)
    ours = _epsilon(plan.event(), steps=steps)
    nominal = _dpa_gaussian_epsilon(z / 2, 1e-5, steps)
    assert ours >= nominal * (1 - 1e-9)
    assert ours <= _dpa_gaussian_epsilon(z / 2 / 1.0101, 1e-5, steps) * 1.02 + 1e-3


def test_review_collusion_example_n10_t7_z4_20_rounds():
    """Review finding 11. Survivors t = 7 of n = 10, z = 4, 20 rounds, delta = 1e-5: a plan that
    counts all 7 survivors' shares reported 5.44 (old sensitivity), but with 6 colluders only one
    share is hidden: 17.71 at the old sensitivity, 44.98 at the replace-one one. Calibrating for
    the single honest share gives seven times the per-client variance and ε 12.45, checked here
    against dp-accounting's continuous Gaussian."""
    kw = dict(dimension=1000, l2_clip=1.0, noise_multiplier=4.0, n_clients=10)
    survivors = D.plan_distributed(n_min=7, **kw)
    honest = D.plan_distributed(n_min=7 - 6, **kw)
    assert honest.scale == survivors.scale and honest.l2_bound == survivors.l2_bound
    assert honest.client_variance == pytest.approx(7 * survivors.client_variance)
    one_share = survivors.client_sigma  # what the server sees after subtracting six shares
    review = _dpa_gaussian_epsilon(one_share / survivors.l2_bound, 1e-5, 20)
    assert review == pytest.approx(17.71, abs=0.01)
    truth = _dpa_gaussian_epsilon(one_share / (2 * survivors.l2_bound), 1e-5, 20)
    assert truth == pytest.approx(44.98, abs=0.01)
    assert _dpa_pld_replace_one(one_share / survivors.l2_bound, 1e-5, 20) > 40  # tight: 42.6
    eps = _epsilon(honest.event(), steps=20)
    assert eps == pytest.approx(12.45, abs=0.01)
    assert eps == pytest.approx(_dpa_gaussian_epsilon(honest.client_sigma / (2 * honest.l2_bound),
                                                      1e-5, 20), rel=1e-5)
    assert _epsilon(survivors.event(), steps=20) == pytest.approx(eps, rel=1e-6)  # same target


def test_event_counts_only_the_honest_shares():
    plan = D.plan_distributed(dimension=64, l2_clip=1.0, noise_multiplier=2.0, n_clients=10,
                              n_min=3)
    assert plan.event().num_clients == 3
    sk = D.plan_distributed(dimension=64, l2_clip=1.0, noise_multiplier=2.0, n_clients=10,
                            n_min=3, mechanism="skellam")
    assert sk.event().mu == pytest.approx(3 * sk.client_variance / 2)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_min=0),
        dict(n_min=20),
        dict(mechanism="laplace"),
        dict(bits=4),
        dict(noise_multiplier=0.0),
    ],
)
def test_bad_plans(kw):
    base = dict(dimension=100, l2_clip=1.0, noise_multiplier=1.0, n_clients=10, n_min=5)
    base.update(kw)
    with pytest.raises(DPError):
        D.plan_distributed(**base)


def test_encode_checks_shape_and_seed():
    plan = D.plan_distributed(dimension=10, l2_clip=1.0, noise_multiplier=1.0, n_clients=3, n_min=2)
    with pytest.raises(DPError):
        D.encode_client(np.ones(11), plan, rotation_seed=SEED)
    with pytest.raises(DPError):
        D.encode_client(np.ones(10), plan)


@pytest.mark.parametrize("mechanism", D.MECHANISMS)
def test_sampled_noise_parameter_never_below_the_plan(mechanism):
    for nm in [0.37, 1.0, 2.9]:
        plan = D.plan_distributed(dimension=100, l2_clip=1.3, noise_multiplier=nm, n_clients=7,
                                  n_min=3, mechanism=mechanism)
        f = D._noise_parameter(plan)
        target = plan.client_variance if mechanism == "gaussian" else plan.client_variance / 2
        assert target <= f <= target * (1 + 1e-4)


def test_larger_modulus_decodes_the_same():
    plan = D.plan_distributed(dimension=50, l2_clip=1.0, noise_multiplier=1.0, n_clients=4,
                              n_min=2, rotate=False)
    v = D.encode_client(np.ones(50) / 10, plan, rng=AesCtrSource(b"m" * 32))
    small = D.decode_sum(v % (1 << plan.bits), plan)
    big = D.decode_sum(v % (1 << (plan.bits + 9)), plan)
    assert np.array_equal(small, big)


def test_bits_for_is_the_smallest_fitting_width():
    """The old formula took one bit too many when ceil(bound) + 1 was a power of two."""
    for k in range(2, 53):  # bound +- 0.5 stays exact in float64
        top = 2 ** (k - 1) - 1  # the largest magnitude that k-bit two's complement holds
        assert D._bits_for(top) == k
        assert D._bits_for(top - 0.5) == k
        assert D._bits_for(top + 0.5) == k + 1
    assert D._bits_for(0.0) == 1


@pytest.mark.parametrize("mechanism", D.MECHANISMS)
def test_wraparound_bound_uses_the_noise_the_sampler_draws(monkeypatch, mechanism):
    """The sampler's parameter is rounded up from the plan's variance; the tail bound that sets
    the bits must use the rounded-up value, not the smaller one."""
    seen = []
    real = D._sum_bound
    monkeypatch.setattr(D, "_sum_bound", lambda **kw: seen.append(kw["variance"]) or real(**kw))
    plan = D.plan_distributed(dimension=100, l2_clip=1.3, noise_multiplier=1.1, n_clients=7,
                              n_min=3, mechanism=mechanism, scale=7.77)
    sampled = float(D._noise_parameter(plan)) * (1 if mechanism == "gaussian" else 2)
    assert sampled > plan.client_variance
    assert seen[-1] == sampled


def test_to_signed_checks_bits():
    for bad in (0, 64, 2.0, True):
        with pytest.raises(DPError, match="bits"):
            D.to_signed(np.zeros(3, dtype=np.int64), bad)


@pytest.mark.parametrize(("kw", "name"), [(dict(beta=1.0), "beta"), (dict(beta=-0.1), "beta"),
                                          (dict(wrap_probability=0.0), "wrap_probability"),
                                          (dict(wrap_probability=1.0), "wrap_probability"),
                                          (dict(n_min=11), "n_min"), (dict(l2_clip=0.0), "l2_clip"),
                                          (dict(noise_multiplier=-1.0), "noise_multiplier")])
def test_plan_errors_name_the_parameter(kw, name):
    base = dict(dimension=100, l2_clip=1.0, noise_multiplier=1.0, n_clients=10, n_min=5)
    base.update(kw)
    with pytest.raises(DPError, match=name):
        D.plan_distributed(**base)
