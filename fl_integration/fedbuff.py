"""Buffered asynchronous FL (FedBuff) where every buffer of K updates is one secure aggregation.

``run_fedbuff(clients, initial, FedBuffConfig(aggregator="secagg+", clip=1.0, buffer_size=10))``
trains on a simulated clock: clients download the current model whenever they are free, train at
their own (heavy-tailed) pace, and their updates enter the model K at a time, each scaled on the
client by the staleness weight s(τ) of the version it trained on. The clients that download
together form a *cohort* of K + ``spares``: once it is full its key advertisement and share
exchange run while its members still train, so only the masked input and the unmasking wait for
training. The buffer closes at its K-th masked input; members still training then are dropouts
of that buffer (within the protocol's budget) and do not block it. The design, what each party
learns and the measured speed-up are in ``docs/async.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from secagg.csprng import RandomSource
from secagg.errors import ConfigError

from .aggregators import (
    Aggregator,
    LightSecAggAggregator,
    SecAggAggregator,
    make_aggregator,
)
from .client import Client, Parameters
from .fedavg import EvaluateFn, FedAvgConfig, _check_int
from .fedbuff_latency import TrainingTime
from .history import History, RoundRecord
from .privacy import DistributedDP, LocalDP
from .simulation import Simulation

#: The smallest buffer the privacy claim holds for: every client downloads the next model, so a
#: member of a buffer of K learns the sum of the other K - 1 updates from it; K >= 3 leaves at
#: least two updates in that sum.
MIN_BUFFER_SIZE = 3
#: Staleness weights by name: s(τ) for an update trained τ versions ago (FedBuff's is "sqrt").
STALENESS: dict[str, Callable[[int], float]] = {
    "sqrt": lambda tau: 1.0 / math.sqrt(1.0 + tau),
    "constant": lambda tau: 1.0,
}


@dataclass(frozen=True, kw_only=True)
class FedBuffConfig:
    """How to train asynchronously; validated here, errors name the parameter and its range.

    ``buffer_size`` K updates make one step; a cohort of K + ``spares`` clients runs one secure
    aggregation, and the aggregator's dropout budget must cover the spares (with a string
    ``aggregator`` it is chosen so). ``concurrency`` is how many clients train at once (default:
    two cohorts). ``staleness`` is "sqrt" (1/√(1+τ), FedBuff's), "constant", or a function of
    τ with values in (0, 1]; an update staler than ``max_staleness`` versions is discarded.
    The run stops after ``buffers`` buffers or at ``time_limit`` simulated seconds, whichever
    is first. ``buffer_deadline`` (seconds after a cohort's setup) closes a buffer with what
    arrived; None waits until every member has sent or gone silent. ``simulation`` gives the
    seed, the dropout rate, the network latencies and the deadline of the setup and unmasking
    stages (``clients_per_round`` is not used); ``training`` the training times. ``dp``,
    ``clip``, ``bits``, ``max_weight``, ``server_lr``, ``fit_config`` and ``rng`` mean what
    they mean in :class:`.FedAvgConfig`.
    """

    aggregator: str | Aggregator = "secagg+"
    buffer_size: int = 10
    spares: int = 5
    concurrency: int | None = None
    staleness: str | Callable[[int], float] = "sqrt"
    max_staleness: int = 10
    buffers: int = 20
    time_limit: float | None = None
    buffer_deadline: float | None = None
    dp: LocalDP | DistributedDP | None = None
    bits: int = 32
    clip: float | None = None
    max_weight: float = 1000.0
    server_lr: float = 1.0
    simulation: Simulation = field(default_factory=Simulation)
    training: TrainingTime = field(default_factory=TrainingTime)
    fit_config: Mapping[str, Any] = field(default_factory=dict)
    rng: RandomSource | None = field(default=None, compare=False)  # crypto randomness

    def __post_init__(self) -> None:
        self.fedavg_config()  # the shared fields, checked as FedAvgConfig checks them
        if isinstance(self.buffer_size, int) and not isinstance(self.buffer_size, bool) and (
                self.buffer_size < MIN_BUFFER_SIZE):
            raise ConfigError(f"buffer_size must be an int >= {MIN_BUFFER_SIZE} (a smaller buffer "
                              f"lets one member learn another's update from the next model), "
                              f"got {self.buffer_size!r}")
        _check_int("buffer_size", self.buffer_size, MIN_BUFFER_SIZE, None)
        _check_int("spares", self.spares, 0, None)
        _check_int("max_staleness", self.max_staleness, 0, None)
        _check_int("buffers", self.buffers, 0, None)
        if self.concurrency is not None:
            _check_int("concurrency", self.concurrency, self.cohort_size, None)
        for name in ("time_limit", "buffer_deadline"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | float) or not (math.isfinite(value) and value > 0)):
                raise ConfigError(f"{name} must be None or a positive finite number of "
                                  f"seconds, got {value!r}")
        deadline = getattr(self.simulation, "deadline", None)
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(
                deadline, int | float)):
            raise ConfigError(f"simulation.deadline must be None or seconds for FedBuff (a "
                              f"buffer's masked inputs wait for K, not for a deadline), got "
                              f"{deadline!r}")
        if not isinstance(self.training, TrainingTime):
            raise ConfigError(f"training must be a TrainingTime(...), got {self.training!r}")
        self._check_staleness()
        self._check_budget()
        if "masked_input" not in getattr(self.aggregator, "stages", ("masked_input",)):
            raise ConfigError(f"aggregator must have a masked_input stage (the first that needs "
                              f"the update), got stages {self.aggregator.stages!r}")  # type: ignore[union-attr]

    def _check_staleness(self) -> None:
        """A known name, or a function with s(τ) in (0, 1] for τ = 0 … max_staleness."""
        fn = self.staleness
        if isinstance(fn, str):
            if fn not in STALENESS:
                raise ConfigError(f"staleness must be one of {', '.join(map(repr, STALENESS))} "
                                  f"or a function of τ, got {fn!r}")
            return
        if not callable(fn):
            raise ConfigError(f"staleness must be a name or a function of τ, got {fn!r}")
        for tau in range(self.max_staleness + 1):
            value = fn(tau)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    0.0 < value <= 1.0):
                raise ConfigError(f"staleness(τ) must be in (0, 1] for τ in [0, max_staleness="
                                  f"{self.max_staleness}] (a larger weight would exceed the "
                                  f"clip), got staleness({tau}) = {value!r}")

    def _check_budget(self) -> None:
        """An aggregator object must plan for at least the spares as dropouts of a buffer."""
        budget = getattr(self.aggregator, "expected_dropout", None)
        if budget is None or self.spares == 0:
            return
        needed = self.spares / self.cohort_size
        if budget < needed:
            raise ConfigError(f"spares must be at most the aggregator's dropout budget: "
                              f"{self.spares} of a cohort of {self.cohort_size} needs "
                              f"expected_dropout >= {needed:.3f}, got {budget!r}")

    @property
    def cohort_size(self) -> int:
        """Clients per secure aggregation: the buffer and its spares."""
        return self.buffer_size + self.spares

    def weight(self, tau: int) -> float:
        """s(τ): the factor a client applies to an update trained ``tau`` versions ago."""
        fn = STALENESS[self.staleness] if isinstance(self.staleness, str) else self.staleness
        return float(fn(tau))

    def fedavg_config(self, aggregator: str | Aggregator | None = None) -> FedAvgConfig:
        """The FedAvg settings a buffer reuses (encoding, clipping, weights, DP)."""
        return FedAvgConfig(
            aggregator=self.aggregator if aggregator is None else aggregator, dp=self.dp,
            rounds=0, bits=self.bits, clip=self.clip, max_weight=self.max_weight,
            server_lr=self.server_lr, simulation=self.simulation, fit_config=self.fit_config,
            rng=self.rng)

    def make_aggregator(self) -> Aggregator:
        """The aggregator object. A name gets the widest dropout budget, up to the spares plus
        the simulated silent members (and one more), that the protocol can plan for a cohort;
        a buffer whose dropouts exceed it aborts, never a wrong sum."""
        if not isinstance(self.aggregator, str):
            return self.aggregator
        if self.aggregator in ("plain", "paillier"):
            return make_aggregator(self.aggregator)
        n = self.cohort_size
        wanted = (self.spares + math.ceil(self.simulation.dropout * n)) / n
        failure: ConfigError | None = None
        for budget in (min(0.5, wanted + 1 / n), min(0.5, wanted), self.spares / n):
            aggregator = make_aggregator(self.aggregator, expected_dropout=budget)
            try:
                _probe(aggregator, tuple(range(1, n + 1)))
            except ConfigError as exc:
                failure = exc
                continue
            return aggregator
        raise ConfigError(f"spares: {self.aggregator} cannot plan for {self.spares} dropouts in "
                          f"a cohort of {n} ({failure}); use fewer spares or a larger "
                          f"buffer_size")


def _probe(aggregator: Aggregator, ids: tuple[int, ...]) -> None:
    """Build a cohort's protocol config: ``ConfigError`` if its budgets are infeasible."""
    if isinstance(aggregator, SecAggAggregator):
        aggregator.config(ids, 1, 32)
    elif isinstance(aggregator, LightSecAggAggregator):
        from protocols.lightsecagg import LightSecAggConfig  # noqa: PLC0415 - crypto on use

        LightSecAggConfig.for_rates(ids, 1, dropout=aggregator.expected_dropout,
                                    corrupt=aggregator.corrupt)


@dataclass
class BufferRecord(RoundRecord):
    """One buffer: ``round`` is its number (in the order buffers were published or skipped),
    ``sampled`` its cohort and
    ``survivors`` the members whose updates are in the sum. ``time`` is the simulated second its
    model was published (or it closed, if skipped), ``version`` the model version after it and
    ``base_version`` the one its step was applied to. ``versions`` and ``staleness`` give each
    survivor's downloaded version and τ at arrival; ``stale`` counts survivors with τ >= 1.
    ``stragglers`` were still training at the close, ``discarded`` were staler than
    ``max_staleness``, ``dropouts`` went silent; all three are dropouts of the secure round.
    ``cpu_seconds`` is the process CPU time of the whole secure round (every simulated party)."""

    time: float = 0.0
    version: int = 0
    base_version: int = 0
    versions: dict[int, int] = field(default_factory=dict)
    staleness: dict[int, int] = field(default_factory=dict)
    stale: int = 0
    stragglers: tuple[int, ...] = ()
    discarded: tuple[int, ...] = ()
    dropouts: tuple[int, ...] = ()
    cpu_seconds: float = 0.0

    def line(self) -> str:
        """A one-line summary for logs and the demo."""
        acc = "  -   " if self.accuracy is None else f"{self.accuracy:6.2%}"
        head = (f"buffer {self.round:3d}  t={self.time:8.1f}s  v{self.version:<4d} acc {acc}  "
                f"in {len(self.survivors):2d}/{len(self.sampled):<2d}")
        if self.skipped:
            return f"{head}  SKIPPED: {self.skipped}"
        eps = "" if self.epsilon is None else f"  eps={self.epsilon:.2f}"
        return (f"{head}  stale {self.stale:2d}  stragglers {len(self.stragglers):2d}  "
                f"cpu {self.cpu_seconds:6.3f}s{eps}")


@dataclass
class FedBuffResult:
    """The final parameters and the per-buffer history (records are :class:`BufferRecord`)."""

    parameters: Parameters
    history: History


def run_fedbuff(clients: Sequence[Client], initial_parameters: Parameters, config: FedBuffConfig,
                *, evaluate_fn: EvaluateFn | None = None,
                on_buffer: Callable[[BufferRecord], None] | None = None) -> FedBuffResult:
    """Train until ``config.buffers`` buffers or ``config.time_limit``; client i has id i+1."""
    from .fedbuff_events import Scheduler  # noqa: PLC0415 - the event loop, kept apart

    clients = list(clients)
    concurrency = config.concurrency or 2 * config.cohort_size
    if not clients or config.cohort_size > len(clients) or concurrency > len(clients):
        raise ConfigError(f"the cohort (buffer_size + spares = {config.cohort_size}) and "
                          f"concurrency ({concurrency}) must be at most the {len(clients)} "
                          f"clients")
    config = dataclasses.replace(config, concurrency=concurrency)
    scheduler = Scheduler(clients, config, config.make_aggregator(), evaluate_fn, on_buffer)
    return scheduler.run(initial_parameters)


__all__ = ["BufferRecord", "FedBuffConfig", "FedBuffResult", "MIN_BUFFER_SIZE", "STALENESS",
           "run_fedbuff"]
