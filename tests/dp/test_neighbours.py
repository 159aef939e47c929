"""The one neighbouring relation (replace one): its sensitivities hold for real vectors, and the
local and central paths agree with Google's dp-accounting under REPLACE_ONE."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from dp import neighbours
from dp.accounting import GaussianEvent, PrivacyLedger
from dp.errors import DPError


def _dpa_rdp_epsilon(noise_multiplier: float, delta: float, steps: int = 1) -> float:
    """dp-accounting's RDP ε for a Gaussian whose neighbouring means lie ``noise_multiplier``
    sigmas apart (its RDP accountant reads GaussianDpEvent so under every relation)."""
    import dp_accounting as dpa

    acc = dpa.rdp.RdpAccountant()
    acc.compose(dpa.GaussianDpEvent(noise_multiplier), steps)
    return float(acc.get_epsilon(delta))


def _dpa_pld_replace_one_epsilon(sigma_over_bound: float, delta: float, steps: int = 1) -> float:
    """dp-accounting's PLD ε under its own REPLACE_ONE, which doubles the shift itself: it takes
    sigma over one contribution's norm bound, not over the replace-one sensitivity."""
    import dp_accounting as dpa

    acc = dpa.pld.PLDAccountant(neighboring_relation=dpa.NeighboringRelation.REPLACE_ONE)
    acc.compose(dpa.GaussianDpEvent(sigma_over_bound), steps)
    return float(acc.get_epsilon(delta))


def test_the_relation_is_replace_one():
    assert dp.RELATION == neighbours.RELATION == "replace_one"
    assert dp.l2_sensitivity(1.5) == 3.0
    assert dp.integer_l1_sensitivity(10.0, 4) == pytest.approx(2 * 20.0)  # sqrt(d) * 2B
    assert dp.integer_l1_sensitivity(1.0, 10**6) == 4.0  # (2B)^2


@given(st.integers(1, 40), st.integers(0, 2**32 - 1), st.floats(0.5, 30.0))
@settings(max_examples=200, deadline=None)
def test_sensitivities_bound_two_integer_vectors_within_the_norm(d, seed, bound):
    """Any two integer vectors of L2 norm <= B differ by <= l2_sensitivity(B) in L2 and by
    <= integer_l1_sensitivity(B, d) in L1 (test data from NumPy's generator, not noise)."""
    gen = np.random.default_rng(seed)
    pair = []
    for _ in range(2):
        v = np.rint(gen.normal(size=d) * bound / math.sqrt(d) * gen.uniform(0, 2))
        while np.linalg.norm(v) > bound:
            v[np.argmax(np.abs(v))] -= np.sign(v[np.argmax(np.abs(v))])
        pair.append(v)
    diff = pair[0] - pair[1]
    assert np.linalg.norm(diff) <= dp.l2_sensitivity(bound) + 1e-9
    assert np.abs(diff).sum() <= dp.integer_l1_sensitivity(bound, d) + 1e-9


def test_opposite_vectors_reach_twice_the_bound():
    """The worst case the old distributed accounting missed: x and -x, each at the bound."""
    x = np.array([3.0, 4.0])
    assert np.linalg.norm(x - (-x)) == dp.l2_sensitivity(float(np.linalg.norm(x)))


@pytest.mark.parametrize(("call", "name"), [
    (lambda: dp.l2_sensitivity(0.0), "l2_bound"),
    (lambda: dp.l2_sensitivity(float("inf")), "l2_bound"),
    (lambda: dp.integer_l1_sensitivity(1.0, 0), "dimension"),
    (lambda: dp.integer_l1_sensitivity(-1.0, 3), "l2_bound"),
])
def test_bad_arguments_name_the_parameter(call, name):
    with pytest.raises(DPError, match=name):
        call()


@pytest.mark.parametrize(("epsilon", "delta", "clip"), [(1.0, 1e-5, 1.0), (4.0, 1e-6, 0.3),
                                                        (8.0, 1e-5, 2.0)])
def test_local_sigma_is_exact_for_dp_accountings_replace_one(epsilon, delta, clip):
    """One privatized update: dp-accounting's PLD under its REPLACE_ONE gives back the ε that
    local_sigma calibrated for with sensitivity 2 clip (analytic Gaussian, exact)."""
    sigma = dp.local_sigma(epsilon, delta, clip)
    assert _dpa_pld_replace_one_epsilon(sigma / clip, delta) == pytest.approx(epsilon, rel=2e-3)


@pytest.mark.parametrize("z", [0.5, 1.0, 3.0])
def test_central_gaussian_matches_dp_accounting(z):
    """Our noise multiplier is sigma over the replace-one sensitivity 2 clip: the RDP ledger is
    dp-accounting's RDP at z, and the PLD wrapper is dp-accounting's REPLACE_ONE PLD at 2 z."""
    ledger = PrivacyLedger()
    ledger.record(GaussianEvent(noise_multiplier=z), steps=10)
    assert ledger.epsilon(1e-5) == pytest.approx(_dpa_rdp_epsilon(z, 1e-5, 10), rel=1e-9)
    assert dp.gaussian_epsilon(z, 1e-5, steps=10) == pytest.approx(ledger.epsilon(1e-5), rel=1e-9)
    pld = dp.gaussian_epsilon(z, 1e-5, steps=10, method="pld")
    assert pld == pytest.approx(_dpa_pld_replace_one_epsilon(2 * z, 1e-5, 10), rel=1e-6)
