"""``SignVote``: clients vote the sign of each coordinate; the server learns only vote counts.

A client sends s_i = sign(v_i) in {-1, 0, 1} on the round's coordinates (all, or a shared
random ``fraction`` of them), where v is its update plus its error-feedback residual. The sum of
n votes lies in [-n, n], so it travels at b = ⌈log2(n+1)⌉ + 1 bits per coordinate (n = 25:
6 bits, packed five to a 30-bit word). The server learns the vote count per coordinate and
moves the model by ``step`` times the mean vote (signSGD with a soft majority vote). Votes are
unweighted: every client counts once, whatever its example count.

Error feedback: the client keeps r = v - step · sign(v) (and v itself off the round's
coordinates) for its next update, clipped to ±max(step, clip). When step >= clip and every
coordinate votes, the clip never acts: |r| <= step by induction, and what the client moved the
model by over the rounds equals what it asked for up to its last residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import packing
from ._checks import check_flag, check_fraction, check_positive
from .subsample import Selection, selection


@dataclass(frozen=True, kw_only=True)
class SignVote:
    """Secure sign voting. ``step``: how far a unanimous vote moves a coordinate (None: a tenth
    of the L∞ clip; tune it like a learning rate); ``fraction``: the share of coordinates voted
    on per round (in (0, 1]); ``error_feedback``: keep what the sign left out on the client."""

    step: float | None = None
    fraction: float = 1.0
    error_feedback: bool = True

    level_bits = None

    def __post_init__(self) -> None:
        check_positive("SignVote.step", self.step, optional=True)
        check_fraction("SignVote.fraction", self.fraction)
        check_flag("SignVote.error_feedback", self.error_feedback)

    def step_for(self, clip: float) -> float:
        """The step, defaulting to clip / 10."""
        return self.step if self.step is not None else clip / 10

    def transform(self, seed: bytes, dimension: int, clip: float) -> Selection:
        """The round's voted coordinates (public); the server never rescales votes."""
        return selection(seed, dimension, self.fraction, clip, unbiased=False)

    def sum_bits(self, n_clients: int) -> int:
        """⌈log2(n+1)⌉ + 1: the bits of a vote count over ``n_clients``."""
        return packing.vote_width(n_clients)

    def compact_sent(self, z: np.ndarray, clip: float) -> np.ndarray:
        """What the votes stand for: step · sign, for the client's residual."""
        return self.step_for(clip) * np.sign(z)

    def residual_bound(self, clip: float) -> float:
        """The residual is kept within ±max(step, clip) per coordinate."""
        return max(self.step_for(clip), clip)

    def label(self) -> str:
        """A short name for tables and plots."""
        step = "" if self.step is None else f"step={self.step:g}"
        frac = "" if self.fraction == 1 else f"fraction={self.fraction:g}"
        ef = "" if self.error_feedback else "no EF"
        return f"SignVote({', '.join(x for x in (step, frac, ef) if x)})"
