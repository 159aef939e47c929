"""The one neighbouring relation of ``dp`` and the sensitivities that follow from it.

Replace one: two inputs are neighbours when the same participants take part and exactly one of
them contributes something different (one client's update, one respondent's value, replaced by
any other admissible one). Adding or removing a participant is not a neighbour step here: in
distributed DP each participant brings its own noise share, so removing one changes the noise
too, and no bound in ``dp`` covers that.

A contribution bounded by norm B in some norm therefore moves the output by up to 2B in that
norm (the difference of two such contributions). Every sensitivity in ``dp`` is taken from the
functions below; the noise multipliers of ``dp.accounting`` are noise / that sensitivity.
"""

from __future__ import annotations

import math

from .errors import DPError

RELATION = "replace_one"


def l2_sensitivity(l2_bound: float) -> float:
    """L2 sensitivity of contributions of L2 norm <= ``l2_bound``: 2 l2_bound."""
    _check_positive("l2_bound", l2_bound)
    return 2.0 * l2_bound


def integer_l1_sensitivity(l2_bound: float, dimension: int) -> float:
    """L1 sensitivity of integer vectors of L2 norm <= ``l2_bound`` in ``dimension`` coordinates.

    Their difference v is an integer vector with |v|_2 <= D = 2 l2_bound, and integer vectors
    have |v|_1 <= min(|v|_2^2, sqrt(d) |v|_2), so the bound is min(D^2, sqrt(d) D).
    """
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise DPError(f"dimension must be an int >= 1, got {dimension!r}")
    d2 = l2_sensitivity(l2_bound)
    return min(d2 * d2, math.sqrt(dimension) * d2)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                       and value > 0):
        raise DPError(f"{name} must be a positive finite number, got {value!r}")
