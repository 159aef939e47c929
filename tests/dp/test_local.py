"""Local DP: clip then noise; calibration uses the replace-one sensitivity 2 * clip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dp import local
from dp.continuous import calibrate_analytic_gaussian, gaussian_grid
from dp.errors import DPError
from tests.dp.conftest import Z


def test_privatize_clips_and_noises(seeded):
    d = 100_000
    x = np.full(d, 1.0)  # norm ~316 -> clipped to 1
    sigma = 0.5
    y, clipped = local.privatize_update(x, l2_clip=1.0, sigma=sigma, rng=seeded("loc"))
    assert clipped and y.shape == (d,) and y.dtype == np.float64
    noise = y - x / math.sqrt(d)
    assert abs(noise.mean()) < Z * sigma / math.sqrt(d) + 1e-4  # + grid snapping
    assert abs(noise.var() / sigma**2 - 1) < Z * math.sqrt(2 / d)


def test_local_sigma():
    assert local.local_sigma(1.0, 1e-5, 3.0) == calibrate_analytic_gaussian(1.0, 1e-5, 6.0)
    assert local.sensitivity_with_grid(1.0, 1.0, 100) < 2.0 + 1e-3


def test_small_update_not_clipped(seeded):
    y, clipped = local.privatize_update(np.array([0.1, 0.2]), l2_clip=1.0, sigma=1.0,
                                        rng=seeded("s"))
    assert not clipped


def test_snapping_does_not_raise_the_sensitivity(monkeypatch):
    """Two updates at the clip norm, pointing opposite ways, with every coordinate just past a
    half-grid point so that snapping rounds all of them outwards: the snapped updates must still
    differ by <= 2 l2_clip (what local_sigma calibrates for). The old code clipped to l2_clip and
    the snapped difference reached 2 l2_clip + ~g sqrt(d)."""
    sigma, d = 1.0, 40_000
    g = gaussian_grid(sigma)
    x = np.full(d, g * 81.51)
    l2_clip = float(np.linalg.norm(x)) * (1 + 1e-12)
    monkeypatch.setattr(local, "add_gaussian_noise",
                        lambda v, s, rng=None, secure=True: np.rint(v / g) * g)  # no noise
    a, _ = local.privatize_update(x, l2_clip=l2_clip, sigma=sigma)
    b, _ = local.privatize_update(-x, l2_clip=l2_clip, sigma=sigma)
    assert np.linalg.norm(a - b) <= 2 * l2_clip
    assert local.sensitivity_with_grid(l2_clip, sigma, d) > 2 * l2_clip  # the unadjusted bound


def test_grid_too_coarse_for_the_clip_is_refused():
    with pytest.raises(DPError, match="dimension"):
        local.privatize_update(np.ones(1000), l2_clip=1e-3, sigma=1.0)
    with pytest.raises(DPError, match="sigma"):
        local.privatize_update(np.ones(3), l2_clip=1.0, sigma=0.0)
    with pytest.raises(DPError, match="l2_clip"):
        local.privatize_update(np.ones(3), l2_clip=-1.0, sigma=1.0)


def test_local_sigma_names_a_bad_clip():
    with pytest.raises(DPError, match="l2_clip"):
        local.local_sigma(1.0, 1e-5, 0.0)
