"""Local DP for a model update: clip, then noise, then a float vector ready for encoding."""

from __future__ import annotations

import math

import numpy as np

from .clipping import clip_l2
from .continuous import add_gaussian_noise, calibrate_analytic_gaussian, gaussian_grid
from .errors import DPError
from .neighbours import l2_sensitivity
from .rng import RandomSource


def local_sigma(epsilon: float, delta: float, l2_clip: float) -> float:
    """sigma making one clipped update (epsilon, delta)-LDP: replace-one, so two inputs differ by
    <= 2 clip (:func:`dp.neighbours.l2_sensitivity`)."""
    _check_positive("l2_clip", l2_clip)
    return calibrate_analytic_gaussian(epsilon, delta, sensitivity=l2_sensitivity(l2_clip))


def privatize_update(update: np.ndarray, *, l2_clip: float, sigma: float,
                     rng: RandomSource | None = None, secure: bool = True) -> tuple[np.ndarray, bool]:
    """(clipped update + N(0, sigma^2 I), whether clipping happened): any two outputs' noise-free
    parts differ by at most 2 l2_clip in L2, so :func:`local_sigma` gives the stated LDP.

    The secure path snaps to the grid g = :func:`continuous.gaussian_grid` (sigma), which moves
    each coordinate by up to g/2 and so can add g sqrt(d) to the replace-one sensitivity: the
    update is clipped to l2_clip - g sqrt(d)/2 to keep it at 2 l2_clip (g <= sigma 2^-14).
    """
    _check_positive("sigma", sigma)
    clip = _snap_clip(np.asarray(update).size, l2_clip, sigma) if secure else l2_clip
    clipped, was_clipped = clip_l2(update, clip)
    return add_gaussian_noise(clipped, sigma, rng=rng, secure=secure), was_clipped


def _snap_clip(dimension: int, l2_clip: float, sigma: float) -> float:
    """The clip that leaves room for snapping: l2_clip - g sqrt(d)/2."""
    _check_positive("l2_clip", l2_clip)
    margin = gaussian_grid(sigma) * math.sqrt(dimension) / 2
    if margin >= l2_clip / 2:
        raise DPError(f"snapping to the noise grid ({margin:.3g} per update) would take over half "
                      f"of l2_clip={l2_clip}: dimension {dimension} is too large for sigma {sigma}")
    return l2_clip - margin


def sensitivity_with_grid(l2_clip: float, sigma: float, dimension: int) -> float:
    """L2 replace-one sensitivity of snapped updates clipped to l2_clip: 2 clip + g sqrt(d)
    (what :func:`privatize_update` avoids by clipping to l2_clip - g sqrt(d)/2)."""
    return l2_sensitivity(l2_clip) + gaussian_grid(sigma) * math.sqrt(dimension)


def _check_positive(name: str, value: object) -> None:
    """A positive finite int or float (not a bool), else a DPError naming the parameter."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                       and value > 0):
        raise DPError(f"{name} must be a positive finite number, got {value!r}")
