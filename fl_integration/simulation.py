"""Simulated federation conditions for one round: who is sampled, who drops, who is late.

These choices use NumPy's seeded ``Generator`` on purpose: they are simulation, not secrets
(nothing here keys a mask or a share), and a seed makes plain and secure runs see the same
clients and dropouts. Anything secret comes from the protocols' CSPRNG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from secagg.errors import ConfigError

from .deadlines import AdaptiveDeadline

#: Protocol stages in order (honest-but-curious mode); a dropout names the stage it skips.
STAGES: tuple[str, ...] = ("advertise_keys", "share_keys", "masked_input", "unmask")
MALICIOUS_STAGES: tuple[str, ...] = (
    "advertise_keys", "share_keys", "masked_input", "consistency_check", "unmask",
)
#: Malicious SecAgg+ adds the reveal of the graph-seed nonces (a dropout there aborts the round).
MALICIOUS_SPARSE_STAGES: tuple[str, ...] = (
    "advertise_keys", "reveal_seed", "share_keys", "masked_input", "consistency_check",
    "unmask",
)
#: Dropping out before or at these stages keeps a client's input out of the sum.
INPUT_STAGES = frozenset({"advertise_keys", "reveal_seed", "share_keys", "share_masks",
                          "masked_input"})

LatencyFn = Callable[[int, int, str], float]  # (round, client id, stage) -> seconds


@dataclass(frozen=True, kw_only=True)
class Simulation:
    """Sampling, dropout and timing model of the simulated federation.

    ``dropout``: probability that a sampled client goes silent, at a stage drawn uniformly.
    ``deadline``: seconds each stage waits; a message later than that is lost (the client is
    treated as dropped). Or ``AdaptiveDeadline(...)``: each stage's deadline follows the
    latencies observed in recent rounds (:mod:`.deadlines`). Latency per (client, stage) is log-normal with ``latency_median`` and
    ``latency_sigma`` unless ``latency`` gives it.
    """

    clients_per_round: int = 20
    dropout: float = 0.0
    deadline: float | AdaptiveDeadline | None = None
    latency_median: float = 0.05
    latency_sigma: float = 1.0
    latency: LatencyFn | None = field(default=None, compare=False)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.clients_per_round, int) or self.clients_per_round < 1:
            raise ValueError(f"clients_per_round must be an int >= 1, got {self.clients_per_round!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.deadline, bool) or not (
                self.deadline is None or isinstance(self.deadline, AdaptiveDeadline)
                or (isinstance(self.deadline, int | float | np.integer | np.floating)
                    and self.deadline > 0)):
            raise ConfigError(f"deadline must be > 0 seconds, AdaptiveDeadline(...) or None, "
                              f"got {self.deadline!r}")
        if not (self.latency_median > 0 and self.latency_sigma >= 0):
            raise ValueError("latency_median must be > 0 and latency_sigma >= 0")


@dataclass(frozen=True)
class RoundPlan:
    """What happens to the sampled clients of one round, decided before it starts.

    ``deadlines`` (per stage, from an adaptive policy) overrides ``deadline`` where given."""

    round: int
    sampled: tuple[int, ...]
    stages: tuple[str, ...]
    dropouts: dict[str, frozenset[int]]  # stage -> clients that go silent before sending it
    latency: dict[str, dict[int, float]]  # stage -> client -> simulated seconds to deliver
    deadline: float | None
    deadlines: Mapping[str, float] | None = None

    def deadline_for(self, stage: str) -> float | None:
        """Seconds ``stage`` waits (None: no deadline)."""
        if self.deadlines is not None and stage in self.deadlines:
            return self.deadlines[stage]
        return self.deadline

    def sends(self, stage: str, client_id: int) -> bool:
        """Whether ``client_id``'s message of ``stage`` reaches the server before the deadline."""
        if client_id in self.dropouts.get(stage, ()):
            return False
        deadline = self.deadline_for(stage)
        return deadline is None or self.latency[stage][client_id] <= deadline

    def expected(self, stage: str) -> frozenset[int]:
        """Sampled clients still in the round at ``stage``: none of their earlier messages
        was lost."""
        live = set(self.sampled)
        for earlier in self.stages[: self.stages.index(stage)]:
            live -= self.missing(earlier)
        return frozenset(live)

    def late(self, stage: str) -> frozenset[int]:
        """Clients expected at ``stage`` that answered after its deadline (not the silent)."""
        silent = self.dropouts.get(stage, frozenset())
        return frozenset(c for c in self.expected(stage) - silent if not self.sends(stage, c))

    def missing(self, stage: str) -> frozenset[int]:
        """Sampled clients whose ``stage`` message never arrives (dropped or late)."""
        return frozenset(c for c in self.sampled if not self.sends(stage, c))

    def stage_seconds(self, stage: str, senders: Sequence[int]) -> float:
        """Simulated wall time of a stage: the last arrival, or the deadline if a client still
        in the round at this stage did not answer (the server cannot tell silent from late;
        clients already out at an earlier stage are not waited for)."""
        times = [self.latency[stage][c] for c in senders]
        deadline = self.deadline_for(stage)
        late = deadline is not None and bool(self.expected(stage) - set(senders))
        last = max(times, default=0.0)
        return float(deadline) if late and deadline is not None else last

    def input_survivors(self) -> frozenset[int]:
        """Clients whose input reaches the server: none of their input-stage messages is lost."""
        lost: set[int] = set()
        for stage in self.stages:
            if stage in INPUT_STAGES:
                lost |= self.missing(stage)
        return frozenset(self.sampled) - lost


def plan_round(sim: Simulation, round_no: int, client_ids: Sequence[int],
               stages: Sequence[str] = STAGES, *,
               deadlines: Mapping[str, float] | None = None) -> RoundPlan:
    """Sample clients and draw their dropouts and latencies; same seed and round, same plan.

    ``deadlines`` (per-stage seconds) override ``sim.deadline``; with an adaptive one they come
    from the run's ``DeadlineTracker`` (None: the policy's first deadline for every stage)."""
    ids = np.asarray(sorted(client_ids))
    k = min(sim.clients_per_round, len(ids))
    sample_rng = np.random.default_rng([sim.seed, round_no, 0])
    sampled = tuple(sorted(int(c) for c in sample_rng.choice(ids, size=k, replace=False)))
    drop_rng = np.random.default_rng([sim.seed, round_no, 1])
    drops = drop_rng.random(k) < sim.dropout
    where = drop_rng.integers(0, len(stages), size=k)
    dropouts: dict[str, set[int]] = {s: set() for s in stages}
    for cid, dropped, stage_ix in zip(sampled, drops, where, strict=True):
        if dropped:
            dropouts[stages[stage_ix]].add(cid)
    deadline = sim.deadline
    if isinstance(deadline, AdaptiveDeadline):
        if deadlines is None:
            deadlines = dict.fromkeys(stages, deadline.first)
        deadline = None
    return RoundPlan(
        round=round_no, sampled=sampled, stages=tuple(stages),
        dropouts={s: frozenset(v) for s, v in dropouts.items()},
        latency=_latencies(sim, round_no, sampled, stages), deadline=deadline,
        deadlines=None if deadlines is None else dict(deadlines),
    )


def _latencies(sim: Simulation, round_no: int, sampled: Sequence[int],
               stages: Sequence[str]) -> dict[str, dict[int, float]]:
    if sim.latency is not None:
        return {s: {c: float(sim.latency(round_no, c, s)) for c in sampled} for s in stages}
    rng = np.random.default_rng([sim.seed, round_no, 2])
    draws = sim.latency_median * np.exp(sim.latency_sigma * rng.standard_normal((len(stages), len(sampled))))
    return {s: dict(zip(sampled, map(float, row), strict=True)) for s, row in zip(stages, draws, strict=True)}
