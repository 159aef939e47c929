"""Adaptive stage deadlines: each stage waits about as long as recent replies took.

``Simulation(deadline=AdaptiveDeadline(percentile=90, margin=1.5, high=5.0))``: the deadline of
a stage in round r is ``margin * p + slack``, where p is the ``percentile`` of the latencies the
server observed for that stage over the last ``window`` rounds, clamped to ``[low, high]``;
before any observation it is ``initial`` (default ``high``). The server sees arrival times only:
a client that missed the deadline counts as "slower than the deadline" (its latency is censored
at the deadline it missed), so the percentile is exact while fewer than ``100 - percentile``
percent miss, and otherwise the deadline grows by ``margin`` a round, up to ``high``. A silent
(crashed) client looks the same as a late one: pick a percentile below the share of clients
expected to answer. Deadlines are simulation policy, not secrets.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from secagg.errors import ConfigError

if TYPE_CHECKING:
    from .simulation import RoundPlan


@dataclass(frozen=True, kw_only=True)
class AdaptiveDeadline:
    """A deadline per stage that follows observed latencies, within ``[low, high]`` seconds."""

    high: float
    percentile: float = 90.0
    margin: float = 1.5
    slack: float = 0.0
    low: float = 0.01
    initial: float | None = None  # None: high (wait generously until latencies are known)
    window: int = 5

    def __post_init__(self) -> None:
        _seconds("high", self.high)
        _seconds("low", self.low)
        if self.low > self.high:
            raise ConfigError(f"AdaptiveDeadline.low must be <= high={self.high:g}, "
                              f"got {self.low!r}")
        if not _real(self.percentile) or not 0 < self.percentile <= 100:
            raise ConfigError(f"AdaptiveDeadline.percentile must be in (0, 100], "
                              f"got {self.percentile!r}")
        if not _real(self.margin) or not 1 <= self.margin < math.inf:
            raise ConfigError(f"AdaptiveDeadline.margin must be a finite number >= 1, "
                              f"got {self.margin!r}")
        if not _real(self.slack) or not 0 <= self.slack < math.inf:
            raise ConfigError(f"AdaptiveDeadline.slack must be a finite number >= 0 seconds, "
                              f"got {self.slack!r}")
        if self.initial is not None and not (
                _real(self.initial) and self.low <= self.initial <= self.high):
            raise ConfigError(f"AdaptiveDeadline.initial must be None or in [low, high] = "
                              f"[{self.low:g}, {self.high:g}], got {self.initial!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"AdaptiveDeadline.window must be an int >= 1 (rounds), "
                              f"got {self.window!r}")

    @property
    def first(self) -> float:
        """The deadline before any latency is observed."""
        return self.high if self.initial is None else float(self.initial)

    def start(self) -> DeadlineTracker:
        """A fresh tracker for one run (the config stays frozen)."""
        return DeadlineTracker(self)


@dataclass
class DeadlineTracker:
    """One run's observed latencies per stage (last ``window`` rounds) and the deadlines they
    give."""

    policy: AdaptiveDeadline
    observed: dict[str, deque[np.ndarray]] = field(default_factory=dict, repr=False)

    def deadlines(self, stages: Sequence[str]) -> dict[str, float]:
        """This round's deadline for each stage."""
        return {s: self._deadline(s) for s in stages}

    def _deadline(self, stage: str) -> float:
        rounds = self.observed.get(stage)
        if not rounds:
            return self.policy.first
        p = float(np.percentile(np.concatenate(list(rounds)), self.policy.percentile))
        value = self.policy.margin * p + self.policy.slack
        return float(min(max(value, self.policy.low), self.policy.high))

    def observe(self, plan: RoundPlan, until: str | None = None) -> None:
        """Record what the server saw of each stage of ``plan`` (through ``until``, the stage a
        round aborted at): arrival latencies, and the deadline for clients that missed it."""
        for stage in plan.stages:
            deadline = plan.deadline_for(stage)
            seen = [plan.latency[stage][c] if plan.sends(stage, c) else deadline
                    for c in sorted(plan.expected(stage))]
            seen_s = [s for s in seen if s is not None]  # no deadline: silent, not late
            if seen_s:
                window = self.observed.setdefault(stage, deque(maxlen=self.policy.window))
                window.append(np.asarray(seen_s, dtype=np.float64))
            if stage == until:
                return


def _real(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _seconds(name: str, value: object) -> None:
    if not _real(value) or not value > 0:  # type: ignore[operator]
        raise ConfigError(f"AdaptiveDeadline.{name} must be a finite number > 0 seconds, "
                          f"got {value!r}")


__all__ = ["AdaptiveDeadline", "DeadlineTracker"]
