"""Local DP: clip then noise; calibration uses the replace-one sensitivity 2 * clip."""

from __future__ import annotations

import math

import numpy as np

from dp import local
from dp.continuous import calibrate_analytic_gaussian
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
