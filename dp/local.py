"""Local DP for a model update: clip, then noise, then a float vector ready for encoding."""

from __future__ import annotations

import math

import numpy as np

from .clipping import clip_l2
from .continuous import add_gaussian_noise, calibrate_analytic_gaussian, grid_for
from .errors import DPError
from .rng import RandomSource


def local_sigma(epsilon: float, delta: float, l2_clip: float) -> float:
    """sigma making one clipped update (epsilon, delta)-LDP: any two inputs differ by <= 2 clip."""
    return calibrate_analytic_gaussian(epsilon, delta, sensitivity=2.0 * l2_clip)


def privatize_update(update: np.ndarray, *, l2_clip: float, sigma: float,
                     rng: RandomSource | None = None, secure: bool = True) -> tuple[np.ndarray, bool]:
    """(clip_L2(update) + N(0, sigma^2 I) on the secure grid, whether clipping happened).

    The grid adds at most g sqrt(d)/2 to the sensitivity (g = :func:`continuous.grid_for`,
    sigma/g >= 2^14), i.e. a relative change below sqrt(d) 2^-15 sigma / clip: negligible for
    sigma ~ clip unless d > 10^8; callers needing it exactly use :func:`sensitivity_with_grid`.
    """
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
        raise DPError(f"sigma must be a positive finite number, got {sigma!r}")
    clipped, was_clipped = clip_l2(update, l2_clip)
    return add_gaussian_noise(clipped, sigma, rng=rng, secure=secure), was_clipped


def sensitivity_with_grid(l2_clip: float, sigma: float, dimension: int) -> float:
    """L2 replace-one sensitivity of the snapped, clipped update: 2 clip + g sqrt(d)."""
    return 2.0 * l2_clip + grid_for(sigma, 15) * math.sqrt(dimension)
