"""Norm clipping of an update: bound the sensitivity before any noise is added."""

from __future__ import annotations

import math

import numpy as np

from .errors import DPError


def _as_vector(x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or not np.isfinite(v).all():
        raise DPError("expected a 1-D vector of finite numbers")
    return v


def _check_bound(bound: float) -> None:
    if not (isinstance(bound, int | float) and math.isfinite(bound) and bound > 0):
        raise DPError(f"clip bound must be a positive finite number, got {bound!r}")


def clip_l2(x: np.ndarray, bound: float) -> tuple[np.ndarray, bool]:
    """(copy of ``x`` scaled down to L2 norm <= bound, whether it was scaled)."""
    _check_bound(bound)
    v = _as_vector(x)
    norm = float(np.linalg.norm(v))
    if norm <= bound:
        return v.copy(), False
    out = v * (bound / norm)
    # guard against the scaled norm landing one ulp above the bound
    while float(np.linalg.norm(out)) > bound:
        out *= 1.0 - 2.0**-50
    return out, True


def clip_linf(x: np.ndarray, bound: float) -> tuple[np.ndarray, bool]:
    """(copy of ``x`` with every coordinate clamped into [-bound, bound], whether any was)."""
    _check_bound(bound)
    v = _as_vector(x)
    out = np.clip(v, -bound, bound)
    return out, bool(np.any(out != v))
