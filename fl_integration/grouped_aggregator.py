"""Grouped (hierarchical) secure aggregation: one secure-aggregation instance per group of the
cohort, and the group sums added.

**What the server learns**: the sum (and total weight) of every group's surviving inputs, not
only the cohort's total. The privacy unit is the group: pick ``min_group_size`` as you would
pick the smallest cohort you would run secure aggregation on, and under distributed DP each
group's sum carries its own noise (every group's codec is planned for that group). The groups
are a public function of the cohort and a public seed (:mod:`.groups`), never the server's
choice. See docs/grouped.md.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from secagg.csprng import RandomSource
from secagg.errors import AbortError, ConfigError

from .aggregators import (
    AggregateResult,
    Aggregator,
    LightSecAggAggregator,
    RoundContext,
    SecAggAggregator,
    make_aggregator,
)
from .group_executors import GroupExecutor, make_executor
from .groups import group_corrupt_rate, restrict_plan, round_seed, split_groups
from .simulation import RoundPlan

if TYPE_CHECKING:
    from .quantization import Codec

log = logging.getLogger(__name__)

INNER = ("secagg+", "secagg", "lightsecagg")
ON_ABORT = ("drop", "raise")
#: The default public seed: fine for simulation; a deployment uses a value the server cannot
#: choose (docs/grouped.md, "How groups are chosen").
DEFAULT_SEED = b"secagg/v1/groups"


@dataclass(frozen=True)
class GroupOutcome:
    """One group's round: its decoded sum, or the abort that stopped it (stage, needed, came)."""

    index: int
    members: tuple[int, ...]
    sum_vector: np.ndarray | None = None
    total_weight: float = 0.0
    survivors: frozenset[int] = frozenset()
    stats: dict[str, Any] = field(default_factory=dict)
    abort: tuple[str, int, int, str] | None = None
    seconds: float = 0.0
    pid: int = 0


@dataclass(frozen=True)
class _FixedCodec:
    """The codec the parent made for this group (a picklable stand-in for the run's factory);
    it checks the inner aggregator asks for the same shape the parent planned."""

    codec: Codec
    shape: tuple[int, int, int | None, int | None]

    def __call__(self, n_clients: int, n_min: int, *, colluders: int | None = None,
                 max_bits: int | None = None) -> Codec:
        if (n_clients, n_min, colluders, max_bits) != self.shape:
            raise RuntimeError(f"group codec planned for {self.shape}, asked for "
                               f"{(n_clients, n_min, colluders, max_bits)}")
        return self.codec


@dataclass(frozen=True)
class _GroupJob:
    """One group's whole secure round, shipped to a worker: inner backend, plan, inputs, codec."""

    index: int
    inner: Aggregator
    plan: RoundPlan
    updates: dict[int, np.ndarray]
    weights: dict[int, float]
    codec: _FixedCodec
    integer_only: bool
    rng: RandomSource | None = None  # in-process only: a Ray job draws from the OS CSPRNG

    def __call__(self) -> GroupOutcome:
        start = time.perf_counter()
        ctx = RoundContext(self.plan.round, self.plan, self.codec,
                           integer_only=self.integer_only, rng=self.rng)
        try:
            res = self.inner.aggregate(self.updates, self.weights, ctx)
        except AbortError as exc:
            return GroupOutcome(self.index, self.plan.sampled,
                                stats=dict(getattr(exc, "stats", {})),
                                abort=(exc.stage, exc.needed, exc.received, str(exc)),
                                seconds=time.perf_counter() - start, pid=os.getpid())
        return GroupOutcome(self.index, self.plan.sampled, res.sum_vector, res.total_weight,
                            res.survivors, res.stats, seconds=time.perf_counter() - start,
                            pid=os.getpid())


@dataclass(kw_only=True)
class GroupedAggregator:
    """Split the cohort into groups of at least ``min_group_size`` (balanced, from the public
    ``seed`` and the round), run one ``inner`` secure aggregation per group on ``executor``,
    and add the group sums. The server learns each group's sum.

    ``inner``: "secagg+" | "secagg" | "lightsecagg", each group planned for its own size with
    the same ``expected_dropout`` and ``corrupt`` rates: ``corrupt`` bounds the colluders in
    each group (a cohort-wide bound c implies :func:`~.groups.group_corrupt_rate` per group,
    recorded as ``stats["group_corrupt_rate"]``). ``groups``: how many (None: as many as
    ``min_group_size`` allows). ``executor``: "inprocess" (one group after another) or "ray"
    (``workers`` processes; use ``with GroupedAggregator(...) as agg:`` or :meth:`close` to
    stop them). ``on_abort``: a group whose round aborts reveals nothing and is left out,
    recorded in ``stats["lost"]`` (``"drop"``, the default), or aborts the round (``"raise"``);
    if every group aborts the round aborts. ``keep_sums``: keep each revealed group sum in
    ``stats["groups"][i]["sum"]`` (the record of what the server learned).
    """

    min_group_size: int
    inner: str = "secagg+"
    groups: int | None = None
    expected_dropout: float = 0.2
    corrupt: float = 0.05
    malicious: bool = False
    executor: str | GroupExecutor = "inprocess"
    workers: int = 1
    seed: bytes = DEFAULT_SEED
    on_abort: str = "drop"
    keep_sums: bool = True
    _pool: GroupExecutor | None = field(default=None, init=False, repr=False, compare=False)
    _inner_aggregator: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.inner not in INNER:
            raise ConfigError(f"inner must be one of {', '.join(map(repr, INNER))}, "
                              f"got {self.inner!r}")
        if self.on_abort not in ON_ABORT:
            raise ConfigError(f"on_abort must be 'drop' or 'raise', got {self.on_abort!r}")
        low = 3 if self.inner == "lightsecagg" else 2
        if isinstance(self.min_group_size, bool) or not isinstance(self.min_group_size, int) \
                or self.min_group_size < low:
            raise ConfigError(f"min_group_size must be an int >= {low} for {self.inner}, "
                              f"got {self.min_group_size!r}")
        if self.malicious and self.inner == "lightsecagg":
            raise ConfigError("malicious=True needs inner='secagg' or 'secagg+'")
        round_seed(self.seed, 0)  # bytes, or ConfigError
        if len(self.seed) < 16:
            raise ConfigError("seed must be >= 16 public bytes the server cannot choose")
        self._inner_aggregator = self._make_inner()
        self._pool = make_executor(self.executor, self.workers)  # Ray starts on first use

    def _make_inner(self) -> SecAggAggregator | LightSecAggAggregator:
        options: dict[str, Any] = {"expected_dropout": self.expected_dropout,
                                   "corrupt": self.corrupt}
        if self.inner != "lightsecagg":
            options["malicious"] = self.malicious
        agg = make_aggregator(self.inner, **options)
        assert isinstance(agg, SecAggAggregator | LightSecAggAggregator)
        return agg

    @property
    def name(self) -> str:
        """"grouped-" and the inner backend's name."""
        return f"grouped-{self.inner}"

    @property
    def stages(self) -> tuple[str, ...]:
        """The inner protocol's stages (every group runs them)."""
        return self._inner_aggregator.stages

    def split(self, client_ids: Sequence[int], round_no: int) -> tuple[tuple[int, ...], ...]:
        """This round's groups of ``client_ids`` (anyone can recompute them)."""
        return split_groups(client_ids, min_group_size=self.min_group_size,
                            seed=round_seed(self.seed, round_no), groups=self.groups)

    def aggregate(self, updates: Mapping[int, np.ndarray], weights: Mapping[int, float],
                  ctx: RoundContext) -> AggregateResult:
        """Σ w_i u_i and Σ w_i over the survivors of the groups that completed."""
        start = time.perf_counter()
        groups = self.split(ctx.plan.sampled, ctx.round)
        pool = self._executor()
        rng = ctx.rng if pool.name == "inprocess" else None
        if ctx.rng is not None and rng is None:
            warnings.warn("the Ray executor draws each group's crypto randomness from the "
                          "workers' OS CSPRNG; the context's rng is not used", stacklevel=2)
        jobs = [self._job(i, members, updates, weights, ctx, rng) for i, members in
                enumerate(groups)]
        outcomes = sorted(pool.map_unordered(jobs), key=lambda o: o.index)
        return self._combine(outcomes, time.perf_counter() - start, ctx)

    def _job(self, index: int, members: tuple[int, ...], updates: Mapping[int, np.ndarray],
             weights: Mapping[int, float], ctx: RoundContext,
             rng: RandomSource | None) -> _GroupJob:
        plan = restrict_plan(ctx.plan, members)
        shape = self._codec_shape(members)
        codec = ctx.make_codec(shape[0], shape[1], colluders=shape[2], max_bits=shape[3])
        mine = [c for c in members if c in updates]
        return _GroupJob(index, self._inner_aggregator, plan, {c: updates[c] for c in mine},
                         {c: weights[c] for c in mine}, _FixedCodec(codec, shape),
                         ctx.integer_only, rng)

    def _codec_shape(self, members: tuple[int, ...]) -> tuple[int, int, int | None, int | None]:
        """(clients, honest inputs guaranteed, colluders, widest sum) the inner backend asks
        its codec for, for this group: its own size, the same rates."""
        inner = self._inner_aggregator
        if isinstance(inner, LightSecAggAggregator):
            from protocols.lightsecagg import LightSecAggConfig  # noqa: PLC0415 - crypto on use

            light = LightSecAggConfig.for_rates(members, 1, dropout=inner.expected_dropout,
                                                corrupt=inner.corrupt)
            return len(members), light.min_honest_inputs, light.max_corrupt, light.input_bits
        probe = inner.config(members, 1, 32)
        return len(members), probe.min_honest_inputs, probe.max_corrupt, None

    def _combine(self, outcomes: list[GroupOutcome], wall: float,
                 ctx: RoundContext) -> AggregateResult:
        """The total over the completed groups, and the record of every group."""
        done = [o for o in outcomes if o.abort is None]
        lost = [_lost_record(o) for o in outcomes if o.abort is not None]
        stats = self._stats(outcomes, done, lost, wall)
        if lost:
            _raise_or_warn(self.on_abort, lost, len(outcomes), done, stats, ctx.round)
        total = np.sum([o.sum_vector for o in done if o.sum_vector is not None], axis=0)
        weight = float(sum(o.total_weight for o in done))
        survivors = frozenset().union(*(o.survivors for o in done))
        stats["quantization_bound"] = (
            sum(o.stats.get("quantization_bound", 0.0) * o.total_weight for o in done) / weight
            if weight > 0 else math.inf)
        return AggregateResult(np.asarray(total), weight, survivors, stats)

    def _stats(self, outcomes: list[GroupOutcome], done: list[GroupOutcome],
               lost: list[dict[str, Any]], wall: float) -> dict[str, Any]:
        runs = [o.stats for o in outcomes]
        return {
            "seconds": wall,
            "simulated_s": max((s.get("simulated_s", 0.0) for s in runs), default=0.0),
            "server_s": sum(s.get("server_s", 0.0) for s in runs),
            "bytes_up": sum(int(s.get("bytes_up", 0)) for s in runs),
            "bytes_down": sum(int(s.get("bytes_down", 0)) for s in runs),
            "stages": _merge_stages(runs),
            "revealed": "each group's sum and total weight",
            "min_group_size": self.min_group_size,
            "group_sizes": [len(o.members) for o in outcomes],
            # the per-group rate that a cohort-wide ``corrupt`` bound implies (docs/grouped.md)
            "group_corrupt_rate": group_corrupt_rate(
                self.corrupt, sum(len(o.members) for o in outcomes),
                min(len(o.members) for o in outcomes), len(outcomes)),
            "executor": self._executor().name, "workers": self._executor().workers,
            "groups": [self._group_record(o) for o in done],
            "lost": lost,
        }

    def _group_record(self, o: GroupOutcome) -> dict[str, Any]:
        record = {"index": o.index, "size": len(o.members), "survivors": tuple(sorted(o.survivors)),
                  "total_weight": o.total_weight, "seconds": o.seconds, "worker": o.pid,
                  **{k: o.stats.get(k) for k in ("threshold", "degree", "bits", "server_s",
                                                  "quantization_bound")}}
        if self.keep_sums:
            record["sum"] = o.sum_vector
        return record

    def _executor(self) -> GroupExecutor:
        if self._pool is None:
            self._pool = make_executor(self.executor, self.workers)
        return self._pool

    def close(self) -> None:
        """Stop the workers of the executor this aggregator made (and Ray, if that started it);
        an executor object passed in is its owner's to close."""
        if self._pool is not None and isinstance(self.executor, str):
            self._pool.close()
            self._pool = None

    def __enter__(self) -> GroupedAggregator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lost_record(o: GroupOutcome) -> dict[str, Any]:
    assert o.abort is not None
    stage, needed, received, reason = o.abort
    return {"index": o.index, "members": o.members, "stage": stage, "needed": needed,
            "received": received, "reason": reason}


def _raise_or_warn(on_abort: str, lost: list[dict[str, Any]], count: int,
                   done: list[GroupOutcome], stats: dict[str, Any], round_no: int) -> None:
    """A lost group never changes a sum silently: it aborts the round (``on_abort="raise"``, or
    every group lost), or is left out, logged and recorded in ``stats["lost"]``."""
    first = lost[0]
    which = ", ".join(f"group {r['index']} at {r['stage']!r}" for r in lost)
    if on_abort == "raise" or not done:
        why = "every group aborted" if not done else "on_abort='raise'"
        exc = AbortError(first["stage"], first["needed"], first["received"],
                         f"{len(lost)} of {count} groups aborted ({which}); {why}")
        exc.stats = stats  # type: ignore[attr-defined]  # what the round cost, and which groups
        raise exc
    log.warning("round %d: %d of %d groups aborted and are left out of the sum (%s); "
                "their clients count as dropouts", round_no, len(lost), count, which)


def _merge_stages(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage, the groups' figures added (seconds are summed work, not wall time)."""
    out: dict[str, dict[str, float]] = {}
    for stats in runs:
        for stage, figures in stats.get("stages", {}).items():
            into = out.setdefault(stage, {})
            for key, value in figures.items():
                into[key] = into.get(key, 0.0) + float(value)
    return out


__all__ = ["DEFAULT_SEED", "GroupOutcome", "GroupedAggregator", "INNER", "ON_ABORT"]
